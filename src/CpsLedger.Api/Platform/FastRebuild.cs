using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using CpsLedger.Api.Products;
using JasperFx.CommandLine;
using JasperFx.Events;
using JasperFx.Events.Aggregation;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Marten.Events;
using Marten.Events.Aggregation;
using Npgsql;
using Weasel.Core;

namespace CpsLedger.Api.Platform;

/// <summary>What one projection's fast rebuild did.</summary>
public sealed record FastRebuildResult(string Projection, long Events, long Documents, TimeSpan Elapsed);

/// <summary>
/// Rebuilds single-stream projections at the speed of a scan: every event the projection handles is read in stream order,
/// each stream is folded in memory by the projection's own (source-generated) Create/Apply dispatch, and the documents are
/// written with one binary COPY (<see cref="DocumentCopy"/>: the stream's version as mt_version, the duplicated fields) while
/// the next streams are folded, instead of one upsert per document as the daemon's rebuild does. The serial claims (an event
/// projection) are replayed in event order in memory and their final set copied. Each projection is rebuilt in one
/// transaction: TRUNCATE, COPY, and its progression row (<c>{name}:All</c> in mt_event_progression) set to the event store's
/// last sequence when the rebuild started, so the daemon and the <c>projections</c> commands see a rebuilt projection (Marten's
/// own rebuild of these inline projections leaves no row). Readers of a table being rebuilt wait for its commit; a rebuild
/// that fails leaves the old documents and is simply run again. Run it with the service stopped, or at least with nothing
/// appending: an event appended during the rebuild may be missed.
/// </summary>
public sealed class FastRebuild(IDocumentStore store)
{
    private readonly StoreOptions _options = ((DocumentStore)store).Options;

    /// <summary>
    /// The projections this rebuild handles, by name: the stored single-stream projections (stream id a Guid) and the serial
    /// claims. The other event projections (support overrides, old e-mail claims: a handful of rows) keep Marten's rebuild.
    /// </summary>
    public IReadOnlyList<string> Projections =>
        [.. _options.Projections.All.Where(p => p.Lifecycle != ProjectionLifecycle.Live && Handles(p)).Select(p => p.Name)];

    private static bool Handles(object projection) => projection is SerialOwnershipProjection || DocumentTypeOf(projection) is not null;

    /// <summary>
    /// Rebuilds the named projections (default: every one this rebuild handles), <see cref="Parallelism"/> at a time: one
    /// rebuild keeps about one core busy between folding in .NET and PostgreSQL's COPY, and the projections are independent
    /// (each its own table, transaction and progression row).
    /// </summary>
    public async Task<IReadOnlyList<FastRebuildResult>> RebuildAsync(IEnumerable<string>? names, CancellationToken ct)
    {
        var wanted = names?.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var chosen = _options.Projections.All
            .Where(p => p.Lifecycle != ProjectionLifecycle.Live && (wanted is null ? Handles(p) : wanted.Contains(p.Name)))
            .ToList();
        var claims = chosen.OfType<SerialOwnershipProjection>().SingleOrDefault();
        // The claims replay product events a single-stream projection (ProductView) reads anyway: rebuilt together, that fold
        // hands each claim change on and the claims are rebuilt from those, one read of the product events instead of two.
        var carrier = claims is null ? null : chosen.FirstOrDefault(p => DocumentTypeOf(p) is not null && ReadsEveryClaimEvent(p));

        // Each job gives the results of its projections, in the order they were chosen.
        var jobs = new List<(int[] Slots, Func<Task<FastRebuildResult[]>> Run)>();
        for (var i = 0; i < chosen.Count; i++)
        {
            var projection = chosen[i];
            if (projection is SerialOwnershipProjection)
            {
                if (carrier is null)
                    jobs.Add(([i], async () => [await RebuildClaimsAsync(claims!, ct)]));
                continue;
            }

            var document = DocumentTypeOf(projection)
                ?? throw new InvalidOperationException($"{projection.Name} is neither a single-stream projection nor the serial claims; rebuild it with 'projections rebuild'.");
            var rebuild = typeof(FastRebuild).GetMethod(nameof(RebuildOneAsync), BindingFlags.NonPublic | BindingFlags.Instance)!.MakeGenericMethod(document);
            if (ReferenceEquals(projection, carrier))
            {
                jobs.Add(([i, chosen.IndexOf(claims!)], WithClaims));
                continue;
            }

            jobs.Add(([i], async () => [await (Task<FastRebuildResult>)rebuild.Invoke(this, [projection, null, ct])!]));

            // ProductView's rebuild, collecting the claim changes, then the claims from them.
            async Task<FastRebuildResult[]> WithClaims()
            {
                var changes = new ClaimChanges();
                var own = await (Task<FastRebuildResult>)rebuild.Invoke(this, [projection, changes, ct])!;
                return [own, await RebuildClaimsAsync(claims!, changes, ct)];
            }
        }

        var results = new FastRebuildResult[chosen.Count];
        await Parallel.ForEachAsync(jobs, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct },
            async (job, _) =>
            {
                var done = await job.Run();
                for (var k = 0; k < done.Length; k++)
                    results[job.Slots[k]] = done[k];
            });
        return results;
    }

    private static bool ReadsEveryClaimEvent(object projection) =>
        projection is IAggregateProjection source
        && SerialOwnershipProjection.EventTypes.All(t => source.AllEventTypes.Contains(t));

    /// <summary>How many projections are rebuilt at once.</summary>
    public int Parallelism { get; init; } = 2;

    private static Type? DocumentTypeOf(object projection)
    {
        for (var type = projection.GetType(); type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(SingleStreamProjection<,>) && type.GetGenericArguments()[1] == typeof(Guid))
                return type.GetGenericArguments()[0];
        }

        return null;
    }

    /// <summary>The stored single-stream projections (stream id a Guid) and the document type each stores.</summary>
    public IReadOnlyList<(object Projection, Type Document)> SingleStreamProjections =>
    [
        .. _options.Projections.All.Where(p => p.Lifecycle != ProjectionLifecycle.Live)
            .Select(p => (Projection: (object)p, Document: DocumentTypeOf(p)))
            .Where(p => p.Document is not null)
            .Select(p => (p.Projection, p.Document!)),
    ];

    /// <summary>
    /// Replays every stream the projection reads, one scan of the events it handles in stream order, each stream folded in
    /// memory by the projection's own dispatch; hands each resulting document (with its stream id and version) on. What a
    /// rebuild writes and what verification compares with the stored document. Returns the events read and the last sequence.
    /// </summary>
    public async Task<(long Events, long LastSequence)> FoldEachStreamAsync<TDoc>(IQuerySession session, SingleStreamProjection<TDoc, Guid> projection,
        Func<Guid, TDoc, long, Task> onDocument, CancellationToken ct, ClaimChanges? claims = null) where TDoc : class
    {
        var setter = new IdentitySetter<TDoc>();
        var slice = new List<IEvent>();
        long events = 0, lastSequence = 0;

        async Task FoldAsync()
        {
            if (slice.Count == 0)
                return;
            var (document, action) = await projection.DetermineActionAsync(session, null, slice[0].StreamId, setter, slice, ct);
            if (action == ActionType.Store && document is not null)
            {
                // The document is its stream's, whatever id Create gave it (Marten's storage does the same).
                setter.SetIdentity(document, slice[0].StreamId);
                await onDocument(slice[0].StreamId, projection.ApplyMetadata(document, slice[^1]), slice[^1].Version);
            }

            slice.Clear();
        }

        await foreach (var e in ReadEventsAsync(projection.AllEventTypes, "stream_id, version", ct))
        {
            if (slice.Count > 0 && slice[0].StreamId != e.StreamId)
                await FoldAsync();
            slice.Add(e);
            claims?.Observe(e);
            events++;
            lastSequence = Math.Max(lastSequence, e.Sequence);
        }

        await FoldAsync();
        return (events, lastSequence);
    }

    /// <summary>
    /// The events of these types that Marten's own event query returns (archived ones left out), in the given order, each
    /// deserialized by Marten's serializer as the type's event mapping does and carrying the metadata Marten reads. Read with
    /// Npgsql directly: Marten's LINQ path reads the same rows but deserializes each event asynchronously from a stream, which
    /// allocated about half again as much. Rows are selected by the types' current names, so an upcaster (the ledger has none)
    /// would have to be added here.
    /// </summary>
    internal async IAsyncEnumerable<IEvent> ReadEventsAsync(IEnumerable<Type> types, string orderBy,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var graph = (EventGraph)_options.Events;
        var metadata = graph.MetadataConfig;
        var serializer = _options.Serializer();
        var mappings = types.Select(graph.EventMappingFor).DistinctBy(m => m.EventTypeName)
            .ToDictionary(m => m.EventTypeName, m => (Mapping: m, Wrap: WrapperFor(m.DocumentType)));
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            "select data, type, seq_id, id, stream_id, version, timestamp, tenant_id, correlation_id, causation_id, headers, user_name " +
            $"from {graph.DatabaseSchemaName}.mt_events where type = any($1) and is_archived = false order by {orderBy}", connection);
        command.Parameters.AddWithValue(mappings.Keys.ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var (mapping, wrap) = mappings[reader.GetString(1)];
            var e = wrap(serializer.FromJson(mapping.DocumentType, reader, 0));
            e.EventTypeName = mapping.EventTypeName;
            e.DotNetTypeName = mapping.DotNetTypeName;
            e.Sequence = reader.GetInt64(2);
            e.Id = reader.GetGuid(3);
            e.StreamId = reader.GetGuid(4);
            e.Version = reader.GetInt64(5);
            e.Timestamp = reader.GetFieldValue<DateTimeOffset>(6);
            e.TenantId = reader.GetString(7);
            if (metadata.CorrelationIdEnabled && !reader.IsDBNull(8))
                e.CorrelationId = reader.GetString(8);
            if (metadata.CausationIdEnabled && !reader.IsDBNull(9))
                e.CausationId = reader.GetString(9);
            if (metadata.HeadersEnabled && !reader.IsDBNull(10))
                e.Headers = serializer.FromJson<Dictionary<string, object>>(reader, 10);
            if (metadata.UserNameEnabled && !reader.IsDBNull(11))
                e.UserName = reader.GetString(11);
            yield return e;
        }
    }

    /// <summary>
    /// Wraps a deserialized event the way Marten's event mapping does, but without <see cref="Event{T}"/>'s constructor: it
    /// gives every event a random id (<see cref="Guid.NewGuid"/>, a system call here, about 0.5 µs, 3 % of a rebuild's
    /// samples) that the stored id replaces at once. The reader sets every other property, as Marten's reader does.
    /// </summary>
    private static Func<object, IEvent> WrapperFor(Type eventType) =>
        typeof(FastRebuild).GetMethod(nameof(Wrap), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(eventType)
            .CreateDelegate<Func<object, IEvent>>();

    private static IEvent Wrap<T>(object data) where T : notnull
    {
        var e = (Event<T>)RuntimeHelpers.GetUninitializedObject(typeof(Event<T>));
        e.Data = (T)data;
        return e;
    }

    private Task<FastRebuildResult> RebuildOneAsync<TDoc>(SingleStreamProjection<TDoc, Guid> projection, ClaimChanges? claims, CancellationToken ct)
        where TDoc : class =>
        RebuildAsync(projection.Name, new ShardName(projection.Name, ShardName.All, projection.Version).Identity, typeof(TDoc), async (copy, importer) =>
        {
            await using var session = store.QuerySession();
            long documents = 0;
            // Rows go to PostgreSQL as the streams are folded: the server inserts while the next streams are read and folded.
            var (events, lastSequence) = await FoldEachStreamAsync(session, projection, async (id, document, version) =>
            {
                await copy.WriteAsync(importer, id, document, version, ct);
                documents++;
            }, ct, claims);
            return (events, documents, lastSequence);
        }, ct);

    /// <summary>
    /// The serial claims: every registration, amendment and deregistration replayed in event order onto the claims held in
    /// memory, by the projection's own rule (<see cref="SerialOwnershipProjection.Replay(IDictionary{string, SerialOwnership}, object)"/>),
    /// and the claims left at the end copied. What Marten's rebuild gives, without writing and deleting every claim that was
    /// later freed. Rebuilt alone, the claims read their events themselves, in event order.
    /// </summary>
    private Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, CancellationToken ct) =>
        RebuildClaimsAsync(projection, async () =>
        {
            var changes = new ClaimChanges();
            await foreach (var e in ReadEventsAsync(SerialOwnershipProjection.EventTypes, "seq_id", ct))
                changes.Observe(e);
            return changes;
        }, ct);

    /// <summary>
    /// The serial claims from the changes another projection's fold collected (<see cref="ClaimChanges"/>): the same claims
    /// without reading the product events again.
    /// </summary>
    private Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, ClaimChanges changes, CancellationToken ct) =>
        RebuildClaimsAsync(projection, () => Task.FromResult(changes), ct);

    // The changes are gathered inside the rebuild's transaction (after its high-water mark is read), then replayed and copied.
    private Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, Func<Task<ClaimChanges>> gather, CancellationToken ct) =>
        RebuildAsync(projection.Name, new ShardName(projection.Name, ShardName.All, projection.Version).Identity, typeof(SerialOwnership), async (copy, importer) =>
        {
            var changes = await gather();
            var claims = changes.ReplayInEventOrder();
            foreach (var claim in claims.Values)
                await copy.WriteAsync(importer, claim.Id, claim, 0, ct);
            return (changes.Events, (long)claims.Count, changes.LastSequence);
        }, ct);

    /// <summary>
    /// One projection's rebuild in one transaction: the old documents, the new ones and the progression change together, readers
    /// wait on the table's lock instead of seeing a partial projection, and a rebuild that fails leaves the old documents as
    /// they were. <paramref name="write"/> copies the documents and says how many events it read, how many documents it wrote
    /// and the last sequence it read.
    /// </summary>
    private async Task<FastRebuildResult> RebuildAsync(string name, string shard, Type documentType,
        Func<DocumentCopy, NpgsqlBinaryImporter, Task<(long Events, long Documents, long LastSequence)>> write, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var schema = store.Options.Events.DatabaseSchemaName;
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        long highWater;
        await using (var max = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {schema}.mt_events", connection))
            highWater = (long)(await max.ExecuteScalarAsync(ct))!;

        var copy = await DocumentCopy.ForAsync(store, documentType, connection, ct);
        await ExecuteAsync(connection, $"truncate {copy.Table}", ct);
        (long Events, long Documents, long LastSequence) written;
        await using (var importer = await connection.BeginBinaryImportAsync(copy.Command, ct))
        {
            written = await write(copy, importer);
            await importer.CompleteAsync(ct);
        }

        // The shard caught up to the event store's high-water mark when the rebuild started, so the daemon resumes from there.
        await using (var progression = new NpgsqlCommand(
                         $"insert into {schema}.mt_event_progression (name, last_seq_id, last_updated) values ($1, $2, now()) " +
                         "on conflict (name) do update set last_seq_id = excluded.last_seq_id, last_updated = excluded.last_updated", connection))
        {
            progression.Parameters.AddWithValue(shard);
            progression.Parameters.AddWithValue(Math.Max(written.LastSequence, highWater));
            await progression.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
        return new FastRebuildResult(name, written.Events, written.Documents, clock.Elapsed);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The claim changes of product events, kept with their sequence (a fold reads them in stream order) and replayed in event
    /// order afterwards by the projection's own rule.
    /// </summary>
    public sealed class ClaimChanges
    {
        private readonly List<(long Sequence, string? Freed, SerialOwnership? Claimed)> _changes = [];

        public long Events { get; private set; }
        public long LastSequence { get; private set; }

        internal void Observe(IEvent e)
        {
            if (!SerialOwnershipProjection.EventTypes.Contains(e.EventType))
                return;
            Events++;
            LastSequence = Math.Max(LastSequence, e.Sequence);
            var (freed, claimed) = SerialOwnershipProjection.ChangeOf(e.Data);
            if (freed is not null || claimed is not null)
                _changes.Add((e.Sequence, freed, claimed));
        }

        internal Dictionary<string, SerialOwnership> ReplayInEventOrder()
        {
            _changes.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
            var claims = new Dictionary<string, SerialOwnership>();
            foreach (var (_, freed, claimed) in _changes)
                SerialOwnershipProjection.Replay(claims, freed, claimed);
            return claims;
        }
    }

    /// <summary>Sets a new document's id (every document of the ledger keeps it in its Id property, Marten's convention).</summary>
    internal sealed class IdentitySetter<TDoc> : IIdentitySetter<TDoc, Guid> where TDoc : class
    {
        private readonly PropertyInfo _id = typeof(TDoc).GetProperty("Id") ?? throw new InvalidOperationException($"{typeof(TDoc).Name} has no Id property.");

        public void SetIdentity(TDoc document, Guid identity) => _id.SetValue(document, identity);

        public Guid Identity(TDoc document) => (Guid)_id.GetValue(document)!;
    }
}

public sealed class FastRebuildInput : NetCoreInput
{
    [Description("Rebuild only this projection (default: every single-stream projection and the serial claims)")]
    public string? ProjectionFlag { get; set; }
}

[Description("Rebuilds single-stream projections and the serial claims by replaying the events in memory and bulk-copying the documents; run it with the service stopped",
    Name = "projections-fast-rebuild")]
public sealed class FastRebuildCommand : JasperFxAsyncCommand<FastRebuildInput>
{
    public override async Task<bool> Execute(FastRebuildInput input)
    {
        using var host = input.BuildHost();
        var rebuild = new FastRebuild(host.Services.GetRequiredService<IDocumentStore>());
        var results = await rebuild.RebuildAsync(input.ProjectionFlag is { } one ? [one] : null, CancellationToken.None);
        // The report is this command's output, not a log line.
        foreach (var r in results)
            await Console.Out.WriteLineAsync($"{r.Projection}: {r.Events} events folded into {r.Documents} documents in {r.Elapsed.TotalSeconds:0.0} s");
        return true;
    }
}
