using System.Security.Cryptography;
using JasperFx;
using Marten;
using Marten.Services;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace CpsLedger.Api.Platform;

public sealed class IdempotencyOptions
{
    public const string Section = "Idempotency";

    /// <summary>How long a key and its first response are kept (at least 24 hours by default).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>A command's Idempotency-Key, the hash of the request it came with, and the first response.</summary>
public sealed class IdempotencyRecord
{
    /// <summary>Caller subject and key: two callers never share a key.</summary>
    public string Id { get; set; } = "";
    public string RequestHash { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public int? StatusCode { get; set; }
    public string? ContentType { get; set; }
    public string? Location { get; set; }
    public string? Body { get; set; }
}

/// <summary>A response as the key's row keeps it.</summary>
public sealed record CapturedResponse(int StatusCode, string? ContentType, string? Location, string? Body);

/// <summary>What the middleware hands the Marten listener for the current request.</summary>
public sealed class PendingIdempotencyKey(string id, string requestHash, DateTimeOffset now, TimeSpan retention)
{
    public string Id { get; } = id;
    public string RequestHash { get; } = requestHash;
    public DateTimeOffset Now { get; } = now;
    public TimeSpan Retention { get; } = retention;

    /// <summary>The endpoint's response, rendered just before its transaction commits (<see cref="IdempotentResponses"/>).</summary>
    public CapturedResponse? Response { get; set; }

    /// <summary>
    /// The key is not looked up before the command: its row's insert at commit finds a key already taken (and a key that
    /// did not commit is looked up then). See <see cref="IdempotencyKeyCheckedAtCommit"/>.
    /// </summary>
    public bool CheckedAtCommit { get; init; }

    public bool Claimed { get; set; }
    public bool Committed { get; set; }

    /// <summary>Whether the row that committed already holds the response (otherwise the middleware stores it after the commit).</summary>
    public bool ResponseCommitted { get; set; }
}

/// <summary>
/// Writes the Idempotency-Key row in the same transaction as the command's events, with the response the endpoint decided on:
/// if the command commits, the key is taken and answered; if it does not, nothing is left to release. A second request with
/// the same key racing it fails whole on the primary key.
/// </summary>
public sealed class IdempotencyKeyListener : DocumentSessionListenerBase
{
    private static readonly HttpContextAccessor Http = new();

    // The key table's name, resolved on first use (one store per listener).
    private string? _table;

    public override Task BeforeSaveChangesAsync(IDocumentSession session, CancellationToken token)
    {
        var pending = Http.HttpContext?.Features.Get<PendingIdempotencyKey>();
        if (pending is null || pending.Claimed || !HasChanges(session))
            return Task.CompletedTask;

        var response = pending.Response;
        if (pending.CheckedAtCommit)
        {
            // Nobody looked the key up: a row whose retention has run out gives way here, so that the insert below fails only on
            // a key that is still held. Queued before the insert, in the same transaction.
            var table = _table ??= session.DocumentStore.Options.FindOrResolveDocumentType(typeof(IdempotencyRecord)).TableName.QualifiedName;
            session.QueueSqlCommand($"delete from {table} where id = ? and (data ->> 'ExpiresAt')::timestamptz <= ?", pending.Id, pending.Now);
        }

        session.Insert(new IdempotencyRecord
        {
            Id = pending.Id,
            RequestHash = pending.RequestHash,
            CreatedAt = pending.Now,
            ExpiresAt = pending.Now + pending.Retention,
            StatusCode = response?.StatusCode,
            ContentType = response?.ContentType,
            Location = response?.Location,
            Body = response?.Body,
        });
        pending.Claimed = true;
        pending.ResponseCommitted = response is not null;
        return Task.CompletedTask;
    }

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        var pending = Http.HttpContext?.Features.Get<PendingIdempotencyKey>();
        if (pending is { Claimed: true })
            pending.Committed = true;
        return Task.CompletedTask;
    }

    private static bool HasChanges(IDocumentSession session) =>
        session.PendingChanges.Streams().Any() || session.PendingChanges.Operations().Any();
}

public sealed class IdempotencyMiddleware(
    RequestDelegate next,
    IDocumentStore store,
    IOptions<IdempotencyOptions> options,
    TimeProvider clock,
    IConfiguration configuration,
    ILogger<IdempotencyMiddleware> logger)
{
    /// <summary>
    /// Test seam (documented in docs/reliability.md): with <c>Testing:HoldResponseAfterCommit=true</c> a committed command's
    /// response is never sent, so that a test can kill the process between the commit and the response.
    /// </summary>
    public const string HoldAfterCommitSetting = "Testing:HoldResponseAfterCommit";

    private readonly bool _holdAfterCommit = configuration.GetValue(HoldAfterCommitSetting, false);

    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    private const int MaxKeyLength = 200;

    // The key's lookup (before a command that is not checked at commit; after one that committed nothing) and the response
    // after it are one statement each on the key's row. They go straight
    // through Npgsql on Marten's own document table (its id and data columns, written with Marten's serializer) rather than
    // through a Marten session each, which every command paid for twice (BENCHMARKS.md, P1). The key's row itself is still
    // inserted by Marten, in the command's own transaction (IdempotencyKeyListener).
    private readonly string _table = store.Options.FindOrResolveDocumentType(typeof(IdempotencyRecord)).TableName.QualifiedName;
    private readonly ISerializer _serializer = store.Options.Serializer();

    public async Task InvokeAsync(HttpContext context)
    {
        if (!KeepsKey(context))
        {
            await next(context);
            return;
        }

        if (KeyRefusal(context) is { } said)
        {
            // errors names the header as a refused parameter is named, for a portal that shows a 400 field by field.
            await Problems.Write(context, StatusCodes.Status400BadRequest, "Invalid Idempotency-Key", said,
                new Dictionary<string, string[]> { [HeaderName] = [said] });
            return;
        }

        var key = context.Request.Headers[HeaderName][0]!;
        var id = $"{context.User.Identity?.Name ?? "anonymous"}|{key}";
        var hash = await HashRequestAsync(context.Request);
        var now = clock.GetUtcNow();

        // Commands that commit once, through their own session, meet a taken key when its row is inserted with their events
        // (one round trip fewer per command); the others look the key up first.
        var atCommit = context.GetEndpoint()?.Metadata.GetMetadata<IdempotencyKeyCheckedAtCommit>() is not null;
        if (!atCommit && await TryAnswerFromRecordAsync(context, id, hash, now))
            return;

        var pending = new PendingIdempotencyKey(id, hash, now, options.Value.Retention) { CheckedAtCommit = atCommit };
        context.Features.Set(pending);

        var originalBody = context.Response.Body;
        await using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            await next(context);
        }
        catch (Exception e) when (IsKeyTaken(e) || (atCommit && !pending.Committed))
        {
            // Nothing of this request committed. Either a request with the same key committed first (its row's insert failed
            // here), or the command failed on its own: a retry of a command that did commit can fail on what the first one did
            // (a 409 on its own serial number), and must get the first answer, not that failure.
            context.Response.Body = originalBody;
            if (await TryAnswerAfterFailureAsync(context, id, hash, now))
                return;
            if (!IsKeyTaken(e))
                throw;
            context.Response.Clear();
            await Problems.Write(context, StatusCodes.Status409Conflict, "Request in progress",
                $"A request with this {HeaderName} is being processed.");
            return;
        }
        finally
        {
            context.Response.Body = originalBody;
        }

        // A command checked at commit that committed nothing (a refusal, or nothing to change) may be the retry of one that did.
        if (atCommit && !pending.Committed && await TryAnswerAfterFailureAsync(context, id, hash, now))
            return;

        if (pending.Committed && _holdAfterCommit)
        {
            logger.LogWarning("Test seam: the command with Idempotency-Key {Key} committed; its response is held", key);
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }

        if (pending.Committed)
        {
            var actual = Actual(context, captured);
            // The row committed with the response rendered before the commit; store what was really written only when it differs
            // (or when the endpoint could not render it before its commit), so that a replay is the same bytes.
            if (!pending.ResponseCommitted || pending.Response != actual)
                await RememberResponseAsync(context, pending, actual);
        }

        captured.Position = 0;
        await captured.CopyToAsync(originalBody, context.RequestAborted);
    }

    // Replaces whatever this request's command answered with the key's first answer, if the key is held. A lookup that fails
    // (the database is down) leaves the command's own answer or failure to be reported.
    private async Task<bool> TryAnswerAfterFailureAsync(HttpContext context, string id, string hash, DateTimeOffset now)
    {
        IdempotencyRecord? record;
        try
        {
            record = await LoadAsync(id, context.RequestAborted);
        }
        catch (Exception lookup) when (lookup is not OperationCanceledException)
        {
            logger.LogWarning(lookup, "Could not look up the Idempotency-Key after its command committed nothing");
            return false;
        }

        return record is not null && await AnswerFromRecordAsync(context, record, hash, now);
    }

    private async Task<bool> TryAnswerFromRecordAsync(HttpContext context, string id, string hash, DateTimeOffset now)
    {
        var record = await LoadAsync(id, context.RequestAborted);
        return record is not null && await AnswerFromRecordAsync(context, record, hash, now);
    }

    private async Task<bool> AnswerFromRecordAsync(HttpContext context, IdempotencyRecord record, string hash, DateTimeOffset now)
    {
        if (record.ExpiresAt <= now)
        {
            await using var cleanup = store.LightweightSession();
            cleanup.Delete(record);
            await cleanup.SaveChangesAsync(context.RequestAborted);
            return false;
        }

        // Whatever this request's own command had begun to answer gives way to the key's answer.
        context.Response.Clear();
        if (record.RequestHash != hash)
        {
            await Problems.Write(context, StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                $"This {HeaderName} was already used with a different request. Use a new key for a new request.");
            return true;
        }

        if (record.StatusCode is not { } status)
        {
            // Committed by an endpoint that renders its response only after its commit (a batched import), and the response is
            // not recorded yet: still running, or the process died in between.
            await Problems.Write(context, StatusCodes.Status409Conflict, "Request in progress",
                $"A request with this {HeaderName} has been accepted and its response is not available yet. Retry shortly.");
            return true;
        }

        logger.LogInformation("Replaying the response recorded for an Idempotency-Key");
        context.Response.StatusCode = status;
        context.Response.Headers[ReplayedHeader] = "true";
        if (record.Location is not null)
            context.Response.Headers.Location = record.Location;
        if (record.ContentType is not null)
            context.Response.ContentType = record.ContentType;
        if (record.Body is not null)
            await context.Response.WriteAsync(record.Body, context.RequestAborted);
        return true;
    }

    private async Task<IdempotencyRecord?> LoadAsync(string id, CancellationToken ct)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select data from {_table} where id = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = id, NpgsqlDbType = NpgsqlDbType.Text } },
        };
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? await _serializer.FromJsonAsync<IdempotencyRecord>(reader, 0, ct) : null;
    }

    private static CapturedResponse Actual(HttpContext context, MemoryStream captured) =>
        new(context.Response.StatusCode, context.Response.ContentType,
            context.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null,
            System.Text.Encoding.UTF8.GetString(captured.GetBuffer(), 0, (int)captured.Length));

    // The key's row committed with the command moments ago, and everything it holds is in hand: write it whole with the response
    // (one round trip) rather than read it back first. Best effort when the row already holds a response of its own.
    private async Task RememberResponseAsync(HttpContext context, PendingIdempotencyKey pending, CapturedResponse response)
    {
        var record = new IdempotencyRecord
        {
            Id = pending.Id,
            RequestHash = pending.RequestHash,
            CreatedAt = pending.Now,
            ExpiresAt = pending.Now + pending.Retention,
            StatusCode = response.StatusCode,
            ContentType = response.ContentType,
            Location = response.Location,
            Body = response.Body,
        };
        try
        {
            await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
            await connection.OpenAsync(CancellationToken.None);
            await using var command = new NpgsqlCommand(
                $"update {_table} set data = $2, mt_last_modified = transaction_timestamp() where id = $1", connection)
            {
                Parameters =
                {
                    new NpgsqlParameter { Value = pending.Id, NpgsqlDbType = NpgsqlDbType.Text },
                    new NpgsqlParameter { Value = _serializer.ToJson(record), NpgsqlDbType = NpgsqlDbType.Jsonb },
                },
            };
            if (await command.ExecuteNonQueryAsync(CancellationToken.None) != 1)
                logger.LogWarning("The Idempotency-Key's row was gone when its response was to be recorded");
        }
        catch (Exception e) when (pending.ResponseCommitted && TransientFaults.IsTransient(e))
        {
            logger.LogWarning(e, "Could not refresh the response stored with an Idempotency-Key; the one committed with the command stands");
        }
    }

    // Marten may report the key's primary-key violation alone or together with other failures of the same batch.
    private static bool IsKeyTaken(Exception e) => e switch
    {
        DocumentAlreadyExistsException d => d.DocType == typeof(IdempotencyRecord),
        AggregateException a => a.Flatten().InnerExceptions.Any(IsKeyTaken),
        _ => false,
    };

    // A preview writes nothing, so its key is neither looked up nor kept: the review may carry the key "Write it" then sends.
    private static bool KeepsKey(HttpContext context) =>
        context.Request.Headers[HeaderName].Count > 0 && IsCommand(context.Request.Method)
                                                       && context.GetEndpoint()?.Metadata.GetMetadata<WritesNothingAttribute>() is null;

    /// <summary>
    /// Why the request's Idempotency-Key cannot be taken, or null when it can (or the request has none, or keeps none). The request
    /// gate asks too, so that a request refused for its body as well names both.
    /// </summary>
    public static string? KeyRefusal(HttpContext context)
    {
        if (!KeepsKey(context))
            return null;
        // A header given twice would be read as the two keys joined ("a,b"), and an empty one as no key: either way a retry
        // with the key the client believes it sent would not be recognised. A comma is refused for the same reason: a proxy
        // may join a header sent twice into one line with a comma (RFC 9110, 5.3), so "a,b" cannot be told from two keys.
        // Printable ASCII only: other bytes reach Kestrel as the client's library encodes them (UTF-8 or Latin-1), so a retry
        // through another client or proxy could carry the same key as other characters. No vertical bar: the key's row is named
        // "<sub>|<key>", and with a bar in the key a caller whose sub were another's cut at a bar ("auth0" beside "auth0|5f7c")
        // could name that caller's row; without one, the last bar tells the two apart.
        var keys = context.Request.Headers[HeaderName];
        return keys.Count > 1 || keys[0] is not { Length: > 0 and <= MaxKeyLength } key || key.Any(c => c is < ' ' or > '~' or ',' or '|')
            ? $"The {HeaderName} header must be given once, with 1 to {MaxKeyLength} printable ASCII characters, no comma and no vertical bar."
            : null;
    }

    private static bool IsCommand(string method) =>
        HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method) || HttpMethods.IsDelete(method);

    /// <summary>
    /// The path with its ids in lower case: route ids are read in either case (RequestGate), so a retry that spells an id in
    /// upper case names the same resource and must hash like the first request. Other segments (an invoice number, an
    /// e-mail) keep their case: the endpoint decides what they match.
    /// </summary>
    internal static string CanonicalPath(PathString path) =>
        string.Join('/', (path.Value ?? "").Split('/').Select(segment =>
            segment.Length == 36 && Guid.TryParseExact(segment, "D", out _) ? segment.ToLowerInvariant() : segment));

    private static async Task<string> HashRequestAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{request.Method} {CanonicalPath(request.Path)}{request.QueryString}\n"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0)
            sha.AppendData(buffer, 0, read);
        request.Body.Position = 0;
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}

/// <summary>Deletes expired keys now and then, so the table holds about one retention period of commands.</summary>
public sealed class IdempotencyCleanup(IDocumentStore store, IOptions<IdempotencyOptions> options, TimeProvider clock,
    ILogger<IdempotencyCleanup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CleanupInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await using var session = store.LightweightSession();
                var now = clock.GetUtcNow();
                session.DeleteWhere<IdempotencyRecord>(r => r.ExpiresAt < now);
                await session.SaveChangesAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not delete expired idempotency keys; will try again");
            }
        }
    }
}

/// <summary>Problem details written by middleware, shaped like every other error the API returns.</summary>

/// <summary>
/// Puts every command endpoint's response into its own transaction: a frame placed just before the endpoint's SaveChanges renders
/// what the endpoint returned (an <see cref="IResult"/>, a <see cref="Wolverine.Http.CreationResponse"/> or a JSON resource)
/// the way it will be written, and the key listener stores it with the key in that transaction. So a crash or a database
/// blip between the commit and the response leaves a key that answers with the first response, never one "in progress".
/// Endpoints that commit on their own (the batched imports open a session per batch) keep the answer recorded after the
/// commit.
/// </summary>
public sealed class IdempotentResponsePolicy : Wolverine.Http.IHttpPolicy
{
    public void Apply(IReadOnlyList<Wolverine.Http.HttpChain> chains, JasperFx.CodeGeneration.GenerationRules rules,
        JasperFx.IServiceContainer container)
    {
        foreach (var chain in chains)
        {
            var commit = chain.Postprocessors.FindIndex(f => f.GetType().Name == "DocumentSessionSaveChanges");
            var response = chain.ResourceVariable ?? chain.Method.Creates.FirstOrDefault();
            if (commit < 0 || response is null)
                continue;
            var capture = typeof(IdempotentResponses).GetMethod(nameof(IdempotentResponses.Capture))!.MakeGenericMethod(response.VariableType);
            chain.Postprocessors.Insert(commit, new JasperFx.CodeGeneration.Frames.MethodCall(typeof(IdempotentResponses), capture));
            if (!chain.Method.Method.IsDefined(typeof(LooksUpIdempotencyKeyFirstAttribute), inherit: false))
                chain.Metadata.WithMetadata(new IdempotencyKeyCheckedAtCommit());
        }
    }
}

/// <summary>
/// Endpoint metadata: the command commits once, through the session Wolverine gives it, with its response captured before the
/// commit (<see cref="IdempotentResponsePolicy"/>). Its Idempotency-Key is not looked up before it runs: the key's row,
/// inserted in the command's transaction, fails on a key already held and the first response is replayed; a command that
/// commits nothing looks the key up afterwards. A retry therefore runs the command's reads and decision again, which is
/// harmless for a command whose only effect is its transaction.
/// </summary>
public sealed class IdempotencyKeyCheckedAtCommit;

/// <summary>
/// On a command that does something outside its transaction before it commits (asks the payment provider to keep a card): its
/// Idempotency-Key is looked up before it runs, so that a retry of a command that committed does not do that again.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LooksUpIdempotencyKeyFirstAttribute : Attribute;

/// <summary>
/// On a POST that decides and writes nothing (a write's preview, through a query session): not a command, so an Idempotency-Key sent
/// with it is ignored. A key already held by the write it previews would otherwise answer the write's stored response (or 422 for
/// the preview's own body) instead of the preview's decision.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class WritesNothingAttribute : Attribute;

public static class IdempotentResponses
{
    private const string Json = "application/json; charset=utf-8";

    /// <summary>Renders the response of a request that carries an Idempotency-Key, for the key's row.</summary>
    public static void Capture<T>(HttpContext httpContext, T response)
    {
        var pending = httpContext.Features.Get<PendingIdempotencyKey>();
        if (pending is null || response is null)
            return;
        var json = httpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        pending.Response = response switch
        {
            IResult result => Render(result, json),
            Wolverine.Http.CreationResponse created => new CapturedResponse(StatusCodes.Status201Created, Json, created.Url,
                System.Text.Json.JsonSerializer.Serialize(response, typeof(T), json)),
            _ => new CapturedResponse(httpContext.Response.StatusCode, Json,
                httpContext.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null,
                System.Text.Json.JsonSerializer.Serialize(response, typeof(T), json)),
        };
    }

    private static CapturedResponse? Render(IResult result, System.Text.Json.JsonSerializerOptions json)
    {
        while (result is INestedHttpResult nested)
            result = nested.Result;
        var status = (result as IStatusCodeHttpResult)?.StatusCode ?? StatusCodes.Status200OK;
        var value = (result as IValueHttpResult)?.Value;
        var location = result.GetType().GetProperty("Location")?.GetValue(result) as string;
        var contentType = result switch
        {
            Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult => "application/problem+json",
            IContentTypeHttpResult { ContentType: { } type } => type,
            _ => value is null ? null : Json,
        };
        return new CapturedResponse(status, contentType, location,
            value is null ? null : System.Text.Json.JsonSerializer.Serialize(value, value.GetType(), json));
    }
}

/// <summary>
/// A command without a natural key (a points adjustment) that was applied under an Idempotency-Key. Kept for good, unlike the
/// key's row and its response (retention), so that a retry arriving after the retention is refused instead of applied twice.
/// Its id is derived from the caller and the key (<see cref="IdempotencyKeys.DerivedId"/>), which is also the id of what the
/// command created.
/// </summary>
[ConflictDescription("Already applied",
    "A command with this Idempotency-Key was applied before; its stored response has expired, so it is not repeated or replayed.")]
public sealed class ConsumedIdempotencyKey
{
    public Guid Id { get; set; }
    public string Command { get; set; } = "";
    public DateTimeOffset ConsumedAt { get; set; }
}

public static class IdempotencyKeys
{
    /// <summary>
    /// An id derived from the request's Idempotency-Key and caller (null without a key): the same retried request creates the
    /// same thing, and <see cref="Consume"/> makes the database refuse it a second time, whatever the retention.
    /// </summary>
    public static Guid? DerivedId(HttpContext httpContext, string command) =>
        httpContext.Features.Get<PendingIdempotencyKey>() is { } pending ? DerivedIds.Hashed($"cpsledger:{command}:{pending.Id}") : null;

    /// <summary>Inserts the permanent record of the key in the command's transaction (a second insert fails on the primary key).</summary>
    public static void Consume(IDocumentSession session, Guid derivedId, string command, DateTimeOffset now) =>
        session.Insert(new ConsumedIdempotencyKey { Id = derivedId, Command = command, ConsumedAt = now });
}
