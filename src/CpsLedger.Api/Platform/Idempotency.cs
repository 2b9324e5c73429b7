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

/// <summary>What the middleware hands the Marten listener for the current request.</summary>
public sealed class PendingIdempotencyKey(string id, string requestHash, DateTimeOffset now, TimeSpan retention)
{
    public string Id { get; } = id;
    public string RequestHash { get; } = requestHash;
    public DateTimeOffset Now { get; } = now;
    public TimeSpan Retention { get; } = retention;
    public bool Claimed { get; set; }
    public bool Committed { get; set; }
}

/// <summary>
/// Writes the Idempotency-Key row in the same transaction as the command's events: if the command commits, the key is taken;
/// if a second request with the same key races it, the primary key makes one of the two transactions fail whole.
/// </summary>
public sealed class IdempotencyKeyListener : DocumentSessionListenerBase
{
    private static readonly HttpContextAccessor Http = new();

    public override Task BeforeSaveChangesAsync(IDocumentSession session, CancellationToken token)
    {
        var pending = Http.HttpContext?.Features.Get<PendingIdempotencyKey>();
        if (pending is null || pending.Claimed || !HasChanges(session))
            return Task.CompletedTask;

        session.Insert(new IdempotencyRecord
        {
            Id = pending.Id,
            RequestHash = pending.RequestHash,
            CreatedAt = pending.Now,
            ExpiresAt = pending.Now + pending.Retention,
        });
        pending.Claimed = true;
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
    ILogger<IdempotencyMiddleware> logger)
{
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    private const int MaxKeyLength = 200;

    // The lookup before every command and the response after it are one statement each on the key's row. They go straight
    // through Npgsql on Marten's own document table (its id and data columns, written with Marten's serializer) rather than
    // through a Marten session each, which every command paid for twice (BENCHMARKS.md, P1). The key's row itself is still
    // inserted by Marten, in the command's own transaction (IdempotencyKeyListener).
    private readonly string _table = store.Options.FindOrResolveDocumentType(typeof(IdempotencyRecord)).TableName.QualifiedName;
    private readonly ISerializer _serializer = store.Options.Serializer();

    public async Task InvokeAsync(HttpContext context)
    {
        var key = context.Request.Headers[HeaderName].ToString();
        if (string.IsNullOrEmpty(key) || !IsCommand(context.Request.Method))
        {
            await next(context);
            return;
        }

        if (key.Length > MaxKeyLength || key.Any(char.IsControl))
        {
            await Problems.Write(context, StatusCodes.Status400BadRequest, "Invalid Idempotency-Key",
                $"The {HeaderName} header must be 1 to {MaxKeyLength} printable characters.");
            return;
        }

        var id = $"{context.User.Identity?.Name ?? "anonymous"}|{key}";
        var hash = await HashRequestAsync(context.Request);
        var now = clock.GetUtcNow();

        if (await TryAnswerFromRecordAsync(context, id, hash, now))
            return;

        var pending = new PendingIdempotencyKey(id, hash, now, options.Value.Retention);
        context.Features.Set(pending);

        var originalBody = context.Response.Body;
        await using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            await next(context);
        }
        catch (Exception e) when (IsKeyTaken(e))
        {
            // A concurrent request with the same key committed first; this one wrote nothing.
            context.Response.Body = originalBody;
            context.Response.Clear();
            if (!await TryAnswerFromRecordAsync(context, id, hash, now))
                await Problems.Write(context, StatusCodes.Status409Conflict, "Request in progress",
                    $"A request with this {HeaderName} is being processed.");
            return;
        }
        finally
        {
            context.Response.Body = originalBody;
        }

        if (pending.Committed)
            await RememberResponseAsync(context, pending, captured);

        captured.Position = 0;
        await captured.CopyToAsync(originalBody, context.RequestAborted);
    }

    private async Task<bool> TryAnswerFromRecordAsync(HttpContext context, string id, string hash, DateTimeOffset now)
    {
        var record = await LoadAsync(id, context.RequestAborted);
        if (record is null)
            return false;

        if (record.ExpiresAt <= now)
        {
            await using var cleanup = store.LightweightSession();
            cleanup.Delete(record);
            await cleanup.SaveChangesAsync(context.RequestAborted);
            return false;
        }

        if (record.RequestHash != hash)
        {
            await Problems.Write(context, StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                $"This {HeaderName} was already used with a different request. Use a new key for a new request.");
            return true;
        }

        if (record.StatusCode is not { } status)
        {
            // Committed, but the response was not recorded yet (still running, or the process died in between).
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

    // The key's row committed with the command moments ago, and everything it holds is in hand: write it whole with the response
    // (one round trip) rather than read it back first.
    private async Task RememberResponseAsync(HttpContext context, PendingIdempotencyKey pending, MemoryStream captured)
    {
        var record = new IdempotencyRecord
        {
            Id = pending.Id,
            RequestHash = pending.RequestHash,
            CreatedAt = pending.Now,
            ExpiresAt = pending.Now + pending.Retention,
            StatusCode = context.Response.StatusCode,
            ContentType = context.Response.ContentType,
            Location = context.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null,
            Body = System.Text.Encoding.UTF8.GetString(captured.GetBuffer(), 0, (int)captured.Length),
        };
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(context.RequestAborted);
        await using var command = new NpgsqlCommand(
            $"update {_table} set data = $2, mt_last_modified = transaction_timestamp() where id = $1", connection)
        {
            Parameters =
            {
                new NpgsqlParameter { Value = pending.Id, NpgsqlDbType = NpgsqlDbType.Text },
                new NpgsqlParameter { Value = _serializer.ToJson(record), NpgsqlDbType = NpgsqlDbType.Jsonb },
            },
        };
        if (await command.ExecuteNonQueryAsync(context.RequestAborted) != 1)
            logger.LogWarning("The Idempotency-Key's row was gone when its response was to be recorded; a retry will run the command again");
    }

    // Marten may report the key's primary-key violation alone or together with other failures of the same batch.
    private static bool IsKeyTaken(Exception e) => e switch
    {
        DocumentAlreadyExistsException d => d.DocType == typeof(IdempotencyRecord),
        AggregateException a => a.Flatten().InnerExceptions.Any(IsKeyTaken),
        _ => false,
    };

    private static bool IsCommand(string method) =>
        HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method) || HttpMethods.IsDelete(method);

    private static async Task<string> HashRequestAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
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
