using System.Buffers;
using CpsLedger.Api.Audit;
using Marten;
using Marten.Events;
using Marten.Exceptions;
using Marten.Internal.Sessions;
using Npgsql;
using NpgsqlTypes;

namespace CpsLedger.Api.Platform;

/// <summary>A stream to start with its events, and the document its inline projection makes of them.</summary>
/// <param name="View">The projected document (same id as the stream), folded by the projection's own Create/Apply methods.</param>
public sealed record NewStream<TView>(Guid Id, IReadOnlyList<object> Events, TView View) where TView : notnull;

/// <summary>
/// Starts many new streams at once with binary COPY, on the session's connection and inside its transaction, so that they
/// commit or fail with what the session saves (the legacy import saves nothing else in that session: it commits its copy before
/// its appends, <c>LegacyImport.ImportBatchAsync</c> says why). Marten's own
/// <c>BulkInsertEventsAsync</c> writes the same rows but in a transaction of its own, which would let the events commit without
/// their projected documents. The rows are what Marten's quick append writes: the stream row (type = the aggregate's alias),
/// events with versions 1..n, sequence numbers from the event sequence, the server's transaction timestamp, the session's
/// correlation id, causation id, user name and headers (the commit id among them, <see cref="CommitIds"/>), and the projected
/// document of each stream (COPY too, so a bulk insert does not bypass the inline projection). The hash chain links the copied
/// events per statement (the appending transaction switches the chain trigger, see <see cref="HashChainSchema.PerStatementSql"/>).
/// A stream id that exists already fails the COPY on the stream table's primary key, and the whole transaction with it:
/// it surfaces as Marten's <see cref="ExistingStreamIdCollisionException"/>, as a StartStream collision would.
/// </summary>
public static class BulkAppend
{
    // Marten's tenant id for a store without multi-tenancy.
    private const string DefaultTenant = "*DEFAULT*";

    /// <summary>Copies the streams, their events and their documents; the caller then saves the session, which commits them.</summary>
    public static async Task StartStreamsAsync<TView>(IDocumentSession session, IReadOnlyList<NewStream<TView>> streams, CancellationToken ct)
        where TView : notnull
    {
        if (streams.Count == 0)
            return;
        var store = session.DocumentStore;
        var events = (EventGraph)store.Options.Events;
        var schema = events.DatabaseSchemaName;
        var serializer = store.Options.Serializer();
        var streamType = events.AggregateAliasFor(typeof(TView));
        var metadata = events.MetadataConfig;
        // The save that commits the copy is one commit: its id is drawn now, so the copied events carry it with the rest.
        CommitIds.Of(session);
        var headers = (session as QuerySession)?.Headers is { Count: > 0 } h ? serializer.ToJson(h) : null;
        // Each event's JSON as UTF-8 in one reused buffer (as DocumentCopy does for the views).
        var json = new ArrayBufferWriter<byte>(4096);

        await session.BeginTransactionAsync(ct);
        var connection = session.Connection ?? throw new InvalidOperationException("The session has no connection after beginning its transaction.");
        var count = streams.Sum(s => s.Events.Count);

        // Sequence numbers and the transaction's timestamp (what the quick append stamps with server timestamps) in one round trip.
        var sequences = new long[count];
        DateTimeOffset now = default;
        await using (var command = new NpgsqlCommand(
                         $"select nextval('{schema}.mt_events_sequence'), now() from generate_series(1, $1)", connection))
        {
            command.Parameters.AddWithValue(count);
            await using var reader = await command.ExecuteReaderAsync(ct);
            for (var i = 0; await reader.ReadAsync(ct); i++)
            {
                sequences[i] = reader.GetInt64(0);
                now = reader.GetFieldValue<DateTimeOffset>(1);
            }
        }

        await using (var setting = new NpgsqlCommand(HashChainSchema.PerStatementSql, connection))
            await setting.ExecuteNonQueryAsync(ct);

        try
        {
            await using (var copy = await connection.BeginBinaryImportAsync(
                             $"copy {schema}.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived) from stdin (format binary)", ct))
            {
                foreach (var stream in streams)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(stream.Id, NpgsqlDbType.Uuid, ct);
                    await copy.WriteAsync(streamType, NpgsqlDbType.Varchar, ct);
                    await copy.WriteAsync((long)stream.Events.Count, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
                    await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
                    await copy.WriteAsync(DefaultTenant, NpgsqlDbType.Varchar, ct);
                    await copy.WriteAsync(false, NpgsqlDbType.Boolean, ct);
                }

                await copy.CompleteAsync(ct);
            }

            await using (var copy = await connection.BeginBinaryImportAsync(
                             $"copy {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived, " +
                             "correlation_id, causation_id, headers, user_name) from stdin (format binary)", ct))
            {
                var next = 0;
                foreach (var stream in streams)
                {
                    var version = 0L;
                    foreach (var data in stream.Events)
                    {
                        var mapping = events.EventMappingFor(data.GetType());
                        await copy.StartRowAsync(ct);
                        await copy.WriteAsync(sequences[next++], NpgsqlDbType.Bigint, ct);
                        await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid, ct);
                        await copy.WriteAsync(stream.Id, NpgsqlDbType.Uuid, ct);
                        await copy.WriteAsync(++version, NpgsqlDbType.Bigint, ct);
                        json.ResetWrittenCount();
                        serializer.WriteTo(json, data);
                        await copy.WriteAsync(json.WrittenMemory, NpgsqlDbType.Jsonb, ct);
                        await copy.WriteAsync(mapping.EventTypeName, NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
                        await copy.WriteAsync(DefaultTenant, NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync(mapping.DotNetTypeName, NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync(false, NpgsqlDbType.Boolean, ct);
                        await WriteNullableAsync(copy, metadata.CorrelationIdEnabled ? session.CorrelationId : null, NpgsqlDbType.Varchar, ct);
                        await WriteNullableAsync(copy, metadata.CausationIdEnabled ? session.CausationId : null, NpgsqlDbType.Varchar, ct);
                        await WriteNullableAsync(copy, metadata.HeadersEnabled ? headers : null, NpgsqlDbType.Jsonb, ct);
                        await WriteNullableAsync(copy, metadata.UserNameEnabled ? session.LastModifiedBy : null, NpgsqlDbType.Varchar, ct);
                    }
                }

                await copy.CompleteAsync(ct);
            }

            // The inline projection's documents, as Marten stores them (the stream's version as the document's version).
            var documents = await DocumentCopy.ForAsync(store, typeof(TView), connection, ct);
            await using (var copy = await connection.BeginBinaryImportAsync(documents.Command, ct))
            {
                foreach (var stream in streams)
                    await documents.WriteAsync(copy, stream.Id, stream.View, stream.Events.Count, ct);
                await copy.CompleteAsync(ct);
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == "pkey_mt_streams_id")
        {
            throw new ExistingStreamIdCollisionException(streams[0].Id, typeof(TView));
        }

        // Marten's own appends later in this transaction are single-row statements: the per-row trigger links them.
        await using (var setting = new NpgsqlCommand(HashChainSchema.PerRowSql, connection))
            await setting.ExecuteNonQueryAsync(ct);
        // SaveChangesAsync commits the transaction only when it has something to do: the copies are invisible to it.
        session.QueueSqlCommand(HashChainSchema.PerRowSql);
    }

    private static Task WriteNullableAsync(NpgsqlBinaryImporter copy, string? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? copy.WriteNullAsync(ct) : copy.WriteAsync(value, type, ct);
}
