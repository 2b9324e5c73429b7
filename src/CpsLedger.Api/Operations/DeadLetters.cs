using System.Text.Json;
using CpsLedger.Api.Platform;
using JasperFx.CommandLine;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using NpgsqlTypes;
using Wolverine.Http;
using Wolverine.Persistence.Durability;
using Wolverine.Persistence.Durability.DeadLetterManagement;
using Wolverine.RDBMS;
using Wolverine.Runtime;

namespace CpsLedger.Api.Operations;

/// <summary>A message that failed for good (a permanent error, or a transient one that outlasted every retry).</summary>
/// <param name="Message">The message as it was sent (JSON), to see what it was about.</param>
/// <param name="Id">The dead letter's id (the message's), as replay and discard take it.</param>
/// <param name="MessageType">The message's type name.</param>
/// <param name="ExceptionType">The type of the last error.</param>
/// <param name="ExceptionMessage">The last error's message.</param>
/// <param name="SentAt">When the message was sent, UTC.</param>
/// <param name="FailedAt">When it was moved to the dead letters, UTC; null when not recorded.</param>
/// <param name="ReplayCount">How many times it was replayed.</param>
/// <param name="Replayable">True when marked for replay (the ledger moves it back within a polling interval).</param>
public sealed record DeadLetter(Guid Id, string MessageType, string ExceptionType, string ExceptionMessage, DateTimeOffset SentAt,
    DateTimeOffset? FailedAt, int ReplayCount, bool Replayable, JsonElement? Message);

/// <summary>One page of dead letters.</summary>
/// <param name="Total">Dead letters matching the filter, on all pages.</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Dead letters per page asked for (50 unless <c>pageSize</c> said otherwise).</param>
/// <param name="DeadLetters">The page's dead letters.</param>
public sealed record DeadLetterPage(int Total, int Page, int PageSize, IReadOnlyList<DeadLetter> DeadLetters);

/// <summary>Which dead letters to replay or discard: these ids, or every one of a message type (both empty: refused).</summary>
/// <param name="Ids">These dead letters; leave out to select by <c>messageType</c>.</param>
/// <param name="MessageType">Every dead letter of this message type; leave out to select by <c>ids</c>.</param>
public sealed record DeadLetterSelection(IReadOnlyList<Guid>? Ids, string? MessageType);

/// <summary>What a replay or discard did.</summary>
/// <param name="Action"><c>replay</c> or <c>discard</c>.</param>
/// <param name="Selected">How many dead letters it applied to.</param>
public sealed record DeadLetterAction(string Action, int Selected);

/// <summary>
/// The operator's view of Wolverine's dead-letter storage (<see cref="IDeadLetters"/>, table wolverine_dead_letters): list,
/// replay once the cause is fixed (the durability agent moves replayable ones back into the inbox within a polling interval),
/// or discard. The same from the command line: <c>dead-letters</c> here, and Wolverine's <c>storage counts</c> /
/// <c>storage replay</c>.
/// </summary>
public static class DeadLetterEndpoints
{
    public const int DefaultPageSize = 50;

    // As the support overrides, the other support list across accounts, and every list but the history: a dead letter carries its
    // whole message, so a page is kept to what a person reads, and (page - 1) x pageSize fits an int at Paging.MaxPage.
    public const int MaxPageSize = 200;

    [WolverineGet("/api/operations/dead-letters", OperationId = "ListDeadLetters")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Operations")]
    [EndpointSummary("Messages that failed for good (support): what, why, when; newest first, a page at a time")]
    [ProducesResponseType<DeadLetterPage>(StatusCodes.Status200OK)]
    public static async Task<DeadLetterPage> Get(IWolverineRuntime runtime,
        [System.ComponentModel.Description("Only dead letters of this message type, exactly as a dead letter's messageType shows it, e.g. " +
                                          "CpsLedger.Api.Invoicing.SendInvoiceEmail.")] string? messageType,
        [System.ComponentModel.Description("The page, from 1 (default 1), newest first; a page past the last has none.")]
        [System.ComponentModel.DataAnnotations.Range(1, Paging.MaxPage)] int? page,
        [System.ComponentModel.Description("Dead letters per page (default 50).")]
        [System.ComponentModel.DataAnnotations.Range(1, MaxPageSize)] int? pageSize, HttpContext http, CancellationToken ct)
    {
        var number = page ?? 1;
        var size = pageSize ?? DefaultPageSize;
        var (total, letters) = await ReadPageAsync(runtime, messageType, number, size, ct);
        Paging.Links(http, number, size, total);
        return new DeadLetterPage(total, number, size, [.. letters.Select(Describe)]);
    }

    /// <summary>
    /// A page of dead letters, newest first: by when they failed (when sent where that is not recorded), ties by id, descending.
    /// Wolverine's own query orders by the scheduled time, null for nearly every dead letter, so its pages came in whatever order
    /// PostgreSQL returned them and could repeat or skip one at a boundary. The page's ids and the total are read here, in one
    /// round trip; the envelopes are then read through Wolverine by id (one round trip more, for a support page), which keeps
    /// reading its envelope format to Wolverine.
    /// </summary>
    /// <param name="messageType">Only dead letters of this type; null or blank: every one.</param>
    public static async Task<(int Total, IReadOnlyList<DeadLetterEnvelope> Page)> ReadPageAsync(IWolverineRuntime runtime, string? messageType,
        int number, int size, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(messageType))
            messageType = null;
        // The table is in Wolverine's schema as Wolverine names it (the ledger's, Ledger:SchemaName, unless configured apart).
        var database = runtime.Storage as IMessageDatabase
                       ?? throw new InvalidOperationException($"Dead letters are read from a database message store, not {runtime.Storage.GetType().Name}.");
        var table = $"{database.SchemaName}.{DatabaseConstants.DeadLetterTable}";
        // Archived dead letters are not counted as dead letters (Wolverine's counts, the mail health check), so not listed either.
        const string Matching = "archived_at is null and ($1::varchar is null or message_type = $1)";
        var ids = new List<Guid>();
        int total;
        await using (var connection = await database.DataSource.OpenConnectionAsync(ct))
        await using (var batch = connection.CreateBatch())
        {
            var count = batch.CreateBatchCommand();
            count.CommandText = $"select count(*)::int from {table} where {Matching}";
            count.Parameters.Add(new NpgsqlParameter { Value = (object?)messageType ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Varchar });
            batch.BatchCommands.Add(count);
            var page = batch.CreateBatchCommand();
            page.CommandText = $"select id from {table} where {Matching} order by coalesce(failed_at, sent_at) desc nulls last, id desc limit $2 offset $3";
            page.Parameters.Add(new NpgsqlParameter { Value = (object?)messageType ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Varchar });
            page.Parameters.Add(new NpgsqlParameter { Value = size });
            // (page - 1) x size fits an int at Paging.MaxPage and MaxPageSize; as a long all the same.
            page.Parameters.Add(new NpgsqlParameter { Value = (long)(number - 1) * size });
            batch.BatchCommands.Add(page);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            total = reader.GetInt32(0);
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                ids.Add(reader.GetGuid(0));
        }

        // No ids would be no filter at all: every dead letter.
        if (ids.Count == 0)
            return (total, []);
        var found = await runtime.Storage.DeadLetters.QueryAsync(new DeadLetterEnvelopeQuery([.. ids]) { PageSize = ids.Count }, ct);
        // One discarded or replayed between the two reads is left out, not waited for.
        var byId = found.Envelopes.ToDictionary(e => e.Id);
        return (total, [.. ids.Where(byId.ContainsKey).Select(id => byId[id])]);
    }

    [WolverinePost("/api/operations/dead-letters/replay", OperationId = "ReplayDeadLetters")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Operations")]
    [EndpointSummary("Run dead letters again (support): by id, or every one of a message type, once the cause is fixed")]
    [RequestExample("""{"ids":["0195f0c2-6f2a-7c1e-9d51-6f3f1c2b8a10"]}""")]
    [ProducesResponseType(StatusCodes.Status400BadRequest)]
    public static Task<Results<Accepted<DeadLetterAction>, ProblemHttpResult>> Replay(DeadLetterSelection selection, IWolverineRuntime runtime, CancellationToken ct) =>
        Act(selection, runtime, "replay", (letters, query) => letters.ReplayAsync(query, ct), ct);

    [WolverinePost("/api/operations/dead-letters/discard", OperationId = "DiscardDeadLetters")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Operations")]
    [EndpointSummary("Delete dead letters for good (support): by id, or every one of a message type")]
    [RequestExample("""{"ids":["0195f0c2-6f2a-7c1e-9d51-6f3f1c2b8a10"]}""")]
    [ProducesResponseType(StatusCodes.Status400BadRequest)]
    public static Task<Results<Accepted<DeadLetterAction>, ProblemHttpResult>> Discard(DeadLetterSelection selection, IWolverineRuntime runtime, CancellationToken ct) =>
        Act(selection, runtime, "discard", (letters, query) => letters.DiscardAsync(query, ct), ct);

    private static async Task<Results<Accepted<DeadLetterAction>, ProblemHttpResult>> Act(DeadLetterSelection selection, IWolverineRuntime runtime, string action,
        Func<IDeadLetters, DeadLetterEnvelopeQuery, Task> apply, CancellationToken ct)
    {
        // Both given would select by the ids alone and drop the type without a word: a discard deletes for good, so it is refused.
        if (selection.Ids is { Count: > 0 } && !string.IsNullOrWhiteSpace(selection.MessageType))
            return TypedResults.Problem(Problems.Invalid("messageType", "Give ids or messageType, not both."));
        if (Select(selection) is not { } query)
            return TypedResults.Problem(Problems.Invalid("ids", "Name the dead letters: their ids, or a messageType for all of that type."));
        var selected = (await runtime.Storage.DeadLetters.QueryAsync(Counting(query), ct)).TotalCount;
        await apply(runtime.Storage.DeadLetters, query);
        return TypedResults.Accepted((string?)null, new DeadLetterAction(action, selected));
    }

    public static DeadLetterEnvelopeQuery? Select(DeadLetterSelection selection) =>
        selection.Ids is { Count: > 0 } ids ? new DeadLetterEnvelopeQuery([.. ids])
        : !string.IsNullOrWhiteSpace(selection.MessageType) ? new DeadLetterEnvelopeQuery { MessageType = selection.MessageType }
        : null;

    public static DeadLetterEnvelopeQuery Counting(DeadLetterEnvelopeQuery query) =>
        new() { MessageIds = query.MessageIds, MessageType = query.MessageType, PageSize = 1, PageNumber = 1 };

    public static DeadLetter Describe(DeadLetterEnvelope e) => new(e.Id, e.MessageType, e.ExceptionType, e.ExceptionMessage, e.SentAt,
        e.FailedAt, e.ReplayCount, e.Replayable, Body(e.Envelope.Data));

    private static JsonElement? Body(byte[]? data)
    {
        if (data is not { Length: > 0 })
            return null;
        try
        {
            return JsonDocument.Parse(data).RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Dead letters make the service Degraded (still ready: it serves, but an operator must look).</summary>
public sealed class DeadLetterHealthCheck(IWolverineRuntime runtime) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var counts = await runtime.Storage.Admin.FetchCountsAsync();
        return counts.DeadLetter == 0
            ? HealthCheckResult.Healthy("No dead letters")
            : HealthCheckResult.Degraded($"{counts.DeadLetter} dead letter(s): see GET /api/operations/dead-letters, replay or discard them");
    }
}

public sealed class DeadLettersInput : LedgerInput
{
    [Description("list, replay or discard")]
    public string Action { get; set; } = "list";

    [Description("Dead letter ids (replay, discard)")]
    public string[] IdFlag { get; set; } = [];

    [Description("Every dead letter of this message type (list, replay, discard), e.g. CpsLedger.Api.Invoicing.SendInvoiceEmail")]
    public string? MessageTypeFlag { get; set; }
}

[Description("Lists, replays or discards dead letters (Wolverine's dead-letter storage); the running service replays them",
    Name = "dead-letters")]
public sealed class DeadLettersCommand : JasperFxAsyncCommand<DeadLettersInput>
{
    public override async Task<bool> Execute(DeadLettersInput input)
    {
        // The output is this command's answer, for a person or a script.
        var output = Console.Out;
        using var host = await input.BuildLedgerHostAsync();
        var runtime = host.Services.GetRequiredService<IWolverineRuntime>();
        var letters = runtime.Storage.DeadLetters;
        if (input.Action == "list")
        {
            var (total, page) = await DeadLetterEndpoints.ReadPageAsync(runtime, input.MessageTypeFlag, 1, 1000, CancellationToken.None);
            await output.WriteLineAsync($"{total} dead letter(s)");
            foreach (var e in page)
                await output.WriteLineAsync($"{e.Id}  {e.FailedAt ?? e.SentAt:u}  {e.MessageType}  {e.ExceptionType}: {e.ExceptionMessage}");
            return true;
        }

        var ids = new List<Guid>();
        foreach (var given in input.IdFlag)
        {
            if (!Guid.TryParse(given, out var id))
            {
                await output.WriteLineAsync($"--id {given} is not a dead letter's id (a UUID, as `dead-letters list` shows them).");
                return false;
            }

            ids.Add(id);
        }

        if (ids.Count > 0 && !string.IsNullOrWhiteSpace(input.MessageTypeFlag))
        {
            await output.WriteLineAsync("Give --id or --message-type, not both.");
            return false;
        }

        if (input.Action is not ("replay" or "discard") ||
            DeadLetterEndpoints.Select(new DeadLetterSelection(ids, input.MessageTypeFlag)) is not { } query)
        {
            await output.WriteLineAsync("Usage: dead-letters list|replay|discard [--id <id> ...] [--message-type <type>]");
            return false;
        }

        // Counted first, as the API answers: a mistyped id or message type must not read as done.
        var selected = (await letters.QueryAsync(DeadLetterEndpoints.Counting(query), CancellationToken.None)).TotalCount;
        if (selected == 0)
        {
            var named = ids.Count > 0 ? "the id(s) given" : $"message type {input.MessageTypeFlag}";
            await output.WriteLineAsync($"No dead letter matches {named}: nothing to {input.Action}. `dead-letters list` shows them.");
            return false;
        }

        if (input.Action == "replay")
            await letters.ReplayAsync(query, CancellationToken.None);
        else
            await letters.DiscardAsync(query, CancellationToken.None);
        await output.WriteLineAsync(input.Action == "replay"
            ? $"{selected} dead letter(s) marked for replay: the running service moves them back into its inbox within a few seconds."
            : $"{selected} dead letter(s) discarded.");
        return true;
    }
}
