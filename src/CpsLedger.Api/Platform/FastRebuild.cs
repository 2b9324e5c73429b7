using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
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
public sealed record FastRebuildResult(string Projection, long Events, long Documents, TimeSpan Elapsed)
{
    /// <summary>Rebuilt by Marten's daemon (an event projection this rebuild leaves to it): no event or document counts.</summary>
    public bool ByMartensDaemon { get; init; }
}

/// <summary>A fast rebuild refused before it began (a projection it does not know or cannot fold): nothing was changed.</summary>
public sealed class FastRebuildRefusedException(string message) : InvalidOperationException(message);

/// <summary>
/// Rebuilds single-stream projections at the speed of a scan: every event the projection handles is read in stream order,
/// each stream is folded in memory by the projection's own (source-generated) Create/Apply dispatch, and the documents are
/// written with one binary COPY (<see cref="DocumentCopy"/>: the stream's version as mt_version, the duplicated fields) while
/// the next streams are folded, instead of one upsert per document as the daemon's rebuild does. The serial claims (an event
/// projection) are replayed in event order in memory and their final set copied; the support overrides (an event projection
/// too) from the few events that can be one, picked out by PostgreSQL. Each projection is rebuilt in one
/// transaction: TRUNCATE, COPY, and its progression row (<c>{name}:All</c> in mt_event_progression) set to the event store's
/// last sequence when the rebuild started, so the daemon and the <c>projections</c> commands see a rebuilt projection (Marten's
/// own rebuild of these inline projections leaves no row). Projections are rebuilt in two lanes at once, each lane one read of
/// the events of all its projections. Readers of a table being rebuilt wait for its commit; a rebuild
/// that fails leaves the old documents and is simply run again. Run it with the service stopped, or at least with nothing
/// appending: an event appended during the rebuild may be missed.
/// </summary>
public sealed class FastRebuild(IDocumentStore store)
{
    private readonly StoreOptions _options = ((DocumentStore)store).Options;

    /// <summary>
    /// The projections this rebuild handles, by name: the stored single-stream projections (stream id a Guid), the serial
    /// claims and the support overrides. The other event projection (old e-mail claims: a handful of rows, from events of their
    /// own) keeps Marten's rebuild (<see cref="RebuildEveryProjectionAsync"/> runs it beside the lanes).
    /// </summary>
    public IReadOnlyList<string> Projections =>
        [.. _options.Projections.All.Where(p => p.Lifecycle != ProjectionLifecycle.Live && Handles(p)).Select(p => p.Name)];

    private static bool Handles(object projection) =>
        projection is SerialOwnershipProjection or SupportOverrideProjection || DocumentTypeOf(projection) is not null;

    /// <summary>
    /// Rebuilds the named projections (default: every one this rebuild handles) in <see cref="Parallelism"/> lanes run at once.
    /// Each lane reads the events of all its single-stream projections in one scan in stream order and folds each projection
    /// from it, every projection copying into its own transaction, so a projection with a handful of events costs no scan of
    /// its own (without an index on the event type, each would be a full scan of the event table). Projections are spread
    /// over the lanes by the events the planner expects each to read, the largest first onto the lane with the fewest.
    /// </summary>
    public async Task<IReadOnlyList<FastRebuildResult>> RebuildAsync(IEnumerable<string>? names, CancellationToken ct)
    {
        var wanted = names?.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var chosen = _options.Projections.All
            .Where(p => p.Lifecycle != ProjectionLifecycle.Live && (wanted is null ? Handles(p) : wanted.Contains(p.Name)))
            .ToList();
        if (wanted is not null && wanted.Except(chosen.Select(p => p.Name), StringComparer.OrdinalIgnoreCase).ToList() is { Count: > 0 } unknown)
            throw new FastRebuildRefusedException($"No stored projection is named {string.Join(", ", unknown)}; this rebuild handles {string.Join(", ", Projections)}.");
        foreach (var projection in chosen.Where(p => !Handles(p)))
            throw new FastRebuildRefusedException(
                $"{projection.Name} is not a single-stream projection, the serial claims or the support overrides; rebuild it with 'projections rebuild'.");

        var claims = chosen.OfType<SerialOwnershipProjection>().SingleOrDefault();
        // The claims replay product events a single-stream projection (ProductView) reads anyway: rebuilt together, that fold
        // hands each claim change on and the claims are rebuilt from those, one read of the product events instead of two.
        var carrier = claims is null ? null : chosen.FirstOrDefault(p => DocumentTypeOf(p) is not null && ReadsEveryClaimEvent(p));

        // The units a lane takes: a single-stream projection (with the claims, for the carrier), or the claims alone. A unit
        // weighs the events it reads, and the carrier's the claim events it replays as well.
        var overrides = chosen.OfType<SupportOverrideProjection>().SingleOrDefault();
        var units = chosen.Where(p => (!ReferenceEquals(p, claims) || carrier is null) && !ReferenceEquals(p, overrides)).ToList();
        var weights = new List<long>();
        await using (var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync(ct);
            foreach (var unit in units)
                weights.Add(unit is SerialOwnershipProjection
                    ? await ExpectedEventsAsync(connection, SerialOwnershipProjection.EventTypes, ct)
                    : await ExpectedEventsAsync(connection, ((IAggregateProjection)unit).AllEventTypes, ct)
                      + (ReferenceEquals(unit, carrier) ? await ExpectedEventsAsync(connection, SerialOwnershipProjection.EventTypes, ct) : 0));
        }

        var lanes = Enumerable.Range(0, Math.Min(Parallelism, units.Count)).Select(_ => new Lane()).ToList();
        foreach (var (projection, weight) in units.Zip(weights).OrderByDescending(u => u.Second))
        {
            var lane = lanes.MinBy(l => l.Weight)!;
            lane.Weight += weight;
            if (projection is SerialOwnershipProjection standalone)
                lane.Claims = standalone;
            else
                lane.Folds.Add(projection);
        }

        // The overrides read a few events of their own (no lane's scan has them all), beside the lanes.
        var running = lanes.Select(l => RunLaneAsync(l, carrier, claims, ct)).ToList();
        if (overrides is not null)
            running.Add(RebuildOverridesAsync(overrides, ct));
        var done = await Task.WhenAll(running);
        var byName = done.SelectMany(r => r).ToDictionary(r => r.Projection);
        return [.. chosen.Select(p => byName[p.Name])];
    }

    /// <summary>
    /// Every stored projection: those this rebuild handles, in its lanes, and at the same time the other event projection (old
    /// e-mail claims: a handful of rows) by Marten's daemon, as <c>projections rebuild</c> would. At the same time rather than
    /// after: 400,005 events in 9.5–13.2 s (mean 11.0) against 11.7–12.8 s (mean 12.1), three runs each taking turns
    /// (2026-12-03); the daemon's part took 0.7–1.1 s alone, 1.8–2.4 s beside the lanes.
    /// </summary>
    public async Task<IReadOnlyList<FastRebuildResult>> RebuildEveryProjectionAsync(CancellationToken ct)
    {
        var others = _options.Projections.All.Where(p => p.Lifecycle != ProjectionLifecycle.Live && !Handles(p)).Select(p => p.Name).ToList();
        var byDaemon = RebuildByMartensDaemonAsync(others, ct);
        var fast = RebuildAsync(null, ct);
        // Both run to their end before either's failure is thrown: the daemon is not left rebuilding behind a failed command.
        await Task.WhenAll(fast, byDaemon);
        return [.. await fast, .. await byDaemon];
    }

    private async Task<List<FastRebuildResult>> RebuildByMartensDaemonAsync(IReadOnlyList<string> names, CancellationToken ct)
    {
        var results = new List<FastRebuildResult>();
        if (names.Count == 0)
            return results;
        var clock = Stopwatch.StartNew();
        using var daemon = await store.BuildProjectionDaemonAsync();
        foreach (var name in names)
        {
            await daemon.RebuildProjectionAsync(name, TimeSpan.FromMinutes(30), ct);
            results.Add(new FastRebuildResult(name, 0, 0, clock.Elapsed) { ByMartensDaemon = true });
        }

        return results;
    }

    private sealed class Lane
    {
        public long Weight { get; set; }
        public List<object> Folds { get; } = [];
        public SerialOwnershipProjection? Claims { get; set; }
    }

    /// <summary>
    /// The number of live events of these types the planner expects (its estimate, from the table's statistics: no scan).
    /// Only used to balance the lanes.
    /// </summary>
    private async Task<long> ExpectedEventsAsync(NpgsqlConnection connection, IEnumerable<Type> types, CancellationToken ct)
    {
        var graph = (EventGraph)_options.Events;
        await using var command = new NpgsqlCommand(
            $"explain (format json) select 1 from {graph.DatabaseSchemaName}.mt_events where type = any($1) and is_archived = false", connection);
        command.Parameters.AddWithValue(types.Select(t => graph.EventMappingFor(t).EventTypeName).Distinct().ToArray());
        using var plan = System.Text.Json.JsonDocument.Parse((string)(await command.ExecuteScalarAsync(ct))!);
        return (long)plan.RootElement[0].GetProperty("Plan").GetProperty("Plan Rows").GetDouble();
    }

    /// <summary>
    /// One lane: every projection's transaction opened (its high-water mark read, its table truncated, its COPY begun), one
    /// scan of their events folded into all of them, each committed; then the claims, from the carrier's changes or alone.
    /// A projection's time is the lane's until it has committed.
    /// </summary>
    private async Task<List<FastRebuildResult>> RunLaneAsync(Lane lane, object? carrier, SerialOwnershipProjection? claims, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var results = new List<FastRebuildResult>();
        ClaimChanges? changes = carrier is not null && lane.Folds.Contains(carrier) ? new ClaimChanges() : null;
        if (lane.Folds.Count > 0)
        {
            var rebuilds = new List<(object Projection, ProjectionRebuild Rebuild, StreamFold Fold)>();
            try
            {
                await using var session = store.QuerySession();
                foreach (var projection in lane.Folds)
                {
                    var document = DocumentTypeOf(projection)!;
                    var rebuild = await ProjectionRebuild.BeginAsync(store, NameOf(projection), ShardOf(projection), document, ct);
                    var fold = (StreamFold)typeof(FastRebuild).GetMethod(nameof(CopyingFold), BindingFlags.NonPublic | BindingFlags.Static)!
                        .MakeGenericMethod(document).Invoke(null, [session, projection, rebuild, ct])!;
                    rebuilds.Add((projection, rebuild, fold));
                }

                await FoldStreamsAsync([.. rebuilds.Select(r => r.Fold)], changes, ct);
                foreach (var (_, rebuild, fold) in rebuilds)
                    results.Add(await rebuild.CommitAsync(fold.Events, fold.Documents, fold.LastSequence, clock, ct));
            }
            finally
            {
                foreach (var (_, rebuild, _) in rebuilds)
                    await rebuild.DisposeAsync();
            }
        }

        if (changes is not null)
            results.Add(await RebuildClaimsAsync(claims!, changes, clock, ct));
        if (lane.Claims is { } alone)
            results.Add(await RebuildClaimsAsync(alone, clock, ct));
        return results;
    }

    private static string NameOf(object projection) => ((IProjectionSource<IDocumentOperations, IQuerySession>)projection).Name;

    private static string ShardOf(object projection)
    {
        var source = (IProjectionSource<IDocumentOperations, IQuerySession>)projection;
        return new ShardName(source.Name, ShardName.All, source.Version).Identity;
    }

    private static bool ReadsEveryClaimEvent(object projection) =>
        projection is IAggregateProjection source
        && SerialOwnershipProjection.EventTypes.All(t => source.AllEventTypes.Contains(t));

    // PostgreSQL's work_mem for the event reads, each sorting process's (the read's and its parallel workers').
    private const string SortMemory = "128MB";

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
        Func<Guid, TDoc, long, Task> onDocument, CancellationToken ct) where TDoc : class
    {
        var fold = new StreamFold<TDoc>(session, projection, onDocument);
        await FoldStreamsAsync([fold], null, ct);
        return (fold.Events, fold.LastSequence);
    }

    /// <summary>
    /// One scan, in stream order, of every event any of the folds handles; each event goes to the folds that handle its type
    /// (and to the claim changes, when given), each fold folding a stream once the scan has passed it.
    /// </summary>
    private async Task FoldStreamsAsync(IReadOnlyList<StreamFold> folds, ClaimChanges? claims, CancellationToken ct)
    {
        var byType = folds.SelectMany(f => f.EventTypes.Select(t => (Type: t, Fold: f)))
            .GroupBy(x => x.Type).ToDictionary(g => g.Key, g => g.Select(x => x.Fold).ToArray());
        await foreach (var e in ReadEventsAsync(byType.Keys, "stream_id, version", ct))
        {
            foreach (var fold in byType[e.EventType])
                await fold.AddAsync(e, ct);
            claims?.Observe(e);
        }

        foreach (var fold in folds)
            await fold.FlushAsync(ct);
    }

    /// <summary>One projection's fold within a scan: the current stream's events, folded when the next stream begins.</summary>
    private abstract class StreamFold
    {
        public abstract IReadOnlyCollection<Type> EventTypes { get; }
        public long Events { get; protected set; }
        public long Documents { get; protected set; }
        public long LastSequence { get; protected set; }
        public abstract ValueTask AddAsync(IEvent e, CancellationToken ct);
        public abstract ValueTask FlushAsync(CancellationToken ct);
    }

    private sealed class StreamFold<TDoc>(IQuerySession session, SingleStreamProjection<TDoc, Guid> projection,
        Func<Guid, TDoc, long, Task> onDocument) : StreamFold where TDoc : class
    {
        private readonly IdentitySetter<TDoc> _setter = new();
        private readonly List<IEvent> _slice = [];

        public override IReadOnlyCollection<Type> EventTypes => projection.AllEventTypes;

        public override async ValueTask AddAsync(IEvent e, CancellationToken ct)
        {
            if (_slice.Count > 0 && _slice[0].StreamId != e.StreamId)
                await FlushAsync(ct);
            _slice.Add(e);
            Events++;
            LastSequence = Math.Max(LastSequence, e.Sequence);
        }

        public override async ValueTask FlushAsync(CancellationToken ct)
        {
            if (_slice.Count == 0)
                return;
            var (document, action) = await projection.DetermineActionAsync(session, null, _slice[0].StreamId, _setter, _slice, ct);
            if (action == ActionType.Store && document is not null)
            {
                // The document is its stream's, whatever id Create gave it (Marten's storage does the same).
                _setter.SetIdentity(document, _slice[0].StreamId);
                await onDocument(_slice[0].StreamId, projection.ApplyMetadata(document, _slice[^1]), _slice[^1].Version);
                Documents++;
            }

            _slice.Clear();
        }
    }

    // A fold whose documents go to a projection rebuild's COPY.
    private static StreamFold CopyingFold<TDoc>(IQuerySession session, SingleStreamProjection<TDoc, Guid> projection, ProjectionRebuild rebuild,
        CancellationToken ct) where TDoc : class =>
        new StreamFold<TDoc>(session, projection, (id, document, version) => rebuild.WriteAsync(id, document, version, ct));

    /// <summary>
    /// The events of these types that Marten's own event query returns (archived ones left out), in the given order, each
    /// deserialized by Marten's serializer as the type's event mapping does and carrying the metadata Marten reads. Read with
    /// Npgsql directly: Marten's LINQ path reads the same rows but deserializes each event asynchronously from a stream, which
    /// allocated about half again as much. Rows are selected by the types' current names, so an upcaster (the ledger has none)
    /// would have to be added here.
    /// </summary>
    /// <param name="alsoWhere">A further condition on the rows, its parameters numbered from $2.</param>
    internal async IAsyncEnumerable<IEvent> ReadEventsAsync(IEnumerable<Type> types, string orderBy,
        [EnumeratorCancellation] CancellationToken ct, (string Sql, object[] Parameters)? alsoWhere = null)
    {
        var graph = (EventGraph)_options.Events;
        var metadata = graph.MetadataConfig;
        var serializer = _options.Serializer();
        var mappings = types.Select(graph.EventMappingFor).DistinctBy(m => m.EventTypeName)
            .ToDictionary(m => m.EventTypeName, m => (Mapping: m, Wrap: WrapperFor(m.DocumentType)));
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        // A read that the planner sorts (a quarter of the events or fewer: a scan and a sort beat the index) sorts in memory
        // rather than spilling to temporary files, which made the read of AccountView's lane (a quarter of a million events)
        // 1.7 times as long. SET LOCAL: the setting ends with the transaction, not with the pooled connection.
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var memory = new NpgsqlCommand($"set local work_mem = '{SortMemory}'", connection))
            await memory.ExecuteNonQueryAsync(ct);
        await using var command = new NpgsqlCommand(
            "select data, type, seq_id, id, stream_id, version, timestamp, tenant_id, correlation_id, causation_id, headers, user_name " +
            $"from {graph.DatabaseSchemaName}.mt_events where type = any($1) and is_archived = false " +
            $"{(alsoWhere is { } where ? $"and ({where.Sql}) " : "")}order by {orderBy}", connection);
        command.Parameters.AddWithValue(mappings.Keys.ToArray());
        foreach (var value in alsoWhere?.Parameters ?? [])
            command.Parameters.AddWithValue(value);
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

    /// <summary>
    /// The serial claims: every registration, amendment and deregistration replayed in event order onto the claims held in
    /// memory, by the projection's own rule (<see cref="SerialOwnershipProjection.Replay(IDictionary{string, SerialOwnership}, object)"/>),
    /// and the claims left at the end copied. What Marten's rebuild gives, without writing and deleting every claim that was
    /// later freed. Rebuilt alone, the claims read their events themselves, in event order.
    /// </summary>
    private Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, Stopwatch clock, CancellationToken ct) =>
        RebuildClaimsAsync(projection, async () =>
        {
            var changes = new ClaimChanges();
            await foreach (var e in ReadEventsAsync(SerialOwnershipProjection.EventTypes, "seq_id", ct))
                changes.Observe(e);
            return changes;
        }, clock, ct);

    /// <summary>
    /// The serial claims from the changes another projection's fold collected (<see cref="ClaimChanges"/>): the same claims
    /// without reading the product events again.
    /// </summary>
    private Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, ClaimChanges changes, Stopwatch clock, CancellationToken ct) =>
        RebuildClaimsAsync(projection, () => Task.FromResult(changes), clock, ct);

    // The changes are gathered inside the rebuild's transaction (after its high-water mark is read), then replayed and copied.
    private async Task<FastRebuildResult> RebuildClaimsAsync(SerialOwnershipProjection projection, Func<Task<ClaimChanges>> gather, Stopwatch clock,
        CancellationToken ct)
    {
        // The claims are copied all at once after the replay, the COPY the step's whole work, alone on one core at the end of
        // the rebuild: its indexes, the primary key included, are built after it rather than kept row by row. The replay has
        // already refused a serial claimed twice; the key's build would refuse it again.
        await using var rebuild = await ProjectionRebuild.BeginAsync(store, projection.Name, ShardOf(projection), typeof(SerialOwnership), ct,
            buildIndexesAfter: true);
        var changes = await gather();
        var claims = changes.ReplayInEventOrder();
        foreach (var claim in claims.Values)
            await rebuild.WriteAsync(claim.Id, claim, 0, ct);
        return await rebuild.CommitAsync(changes.Events, claims.Count, changes.LastSequence, clock, ct);
    }

    /// <summary>
    /// The support overrides: every override the events make (<see cref="ReplayOverridesAsync(Guid?, Func{SupportOverride, Task}, CancellationToken)"/>), copied. Until 2026-12-03
    /// Marten's daemon rebuilt them; since the overrides include support's requests on a member's behalf
    /// (<see cref="SupportOverrideProjection.OnBehalfEvents"/>: account openings, every product event, ...), the daemon read and
    /// deserialized almost every event of the ledger for a handful of rows, and ended the whole rebuild last (P4, BENCHMARKS.md).
    /// </summary>
    private async Task<List<FastRebuildResult>> RebuildOverridesAsync(SupportOverrideProjection projection, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var rebuild = await ProjectionRebuild.BeginAsync(store, projection.Name, ShardOf(projection), typeof(SupportOverride), ct);
        var documents = new Dictionary<Guid, SupportOverride>();
        var (events, lastSequence) = await ReplayOverridesAsync(projection, null, document =>
        {
            documents[document.Id] = document;
            return Task.CompletedTask;
        }, ct);
        foreach (var document in documents.Values)
            await rebuild.WriteAsync(document.Id, document, 0, ct);
        return [await rebuild.CommitAsync(events, documents.Count, lastSequence, clock, ct)];
    }

    /// <inheritdoc cref="ReplayOverridesAsync(SupportOverrideProjection, Guid?, Func{SupportOverride, Task}, CancellationToken)"/>
    public Task<(long Events, long LastSequence)> ReplayOverridesAsync(Guid? accountId, Func<SupportOverride, Task> onOverride, CancellationToken ct) =>
        ReplayOverridesAsync(_options.Projections.All.OfType<SupportOverrideProjection>().Single(), accountId, onOverride, ct);

    /// <summary>
    /// Every support override the events make (with <paramref name="accountId"/>, that account's: the events naming it), each
    /// handed on as its event is applied: the projection's own handlers applied, in event order, to the events that can be an
    /// override. What the rebuild copies and what verification compares with the stored rows. PostgreSQL picks the events out:
    /// those of the types that are always an override, and those of the on-behalf types whose headers hold both support's
    /// reason and its ticket (without both keys no handler stores anything; with them the handler still decides, as it does
    /// inline). The handlers store into a session that is never saved; its stores are the overrides, and anything else a
    /// handler did stops the replay. Returns the events read and the last sequence.
    /// </summary>
    public async Task<(long Events, long LastSequence)> ReplayOverridesAsync(SupportOverrideProjection projection, Guid? accountId,
        Func<SupportOverride, Task> onOverride, CancellationToken ct)
    {
        var graph = (EventGraph)_options.Events;
        var onBehalf = SupportOverrideProjection.OnBehalfEvents.Select(t => graph.EventMappingFor(t).EventTypeName).ToArray();
        string[] headers = [SupportReason.ReasonHeader, SupportReason.TicketHeader];
        // Every handler stores the override under its event's AccountId. One account's: the events its hash chain links (the chain
        // is keyed by the event's AccountId, and its primary key is an index), because mt_events has no index on the AccountId: the
        // filter alone scanned the whole table (235-290 ms at 1,000,000 events against 1.1-1.4 ms, EXPLAIN ANALYZE, 2026-12-05).
        // An event whose link was removed is then not replayed: its stored row is reported as one no event makes, and the
        // account's chain verification reports the missing link.
        (string, object[]) where = accountId is { } account
            ? ($"seq_id in (select c.seq_id from {graph.DatabaseSchemaName}.{Audit.HashChainSchema.TableName} c where c.chain_id = $4::uuid) " +
               "and (type <> all($2) or headers ?& $3) and data ->> 'AccountId' = $4", [onBehalf, headers, account.ToString()])
            : ("type <> all($2) or headers ?& $3", [onBehalf, headers]);
        await using var session = store.LightweightSession();
        long events = 0, lastSequence = 0;
        await foreach (var e in ReadEventsAsync(projection.IncludedEventTypes, "seq_id", ct, where))
        {
            events++;
            lastSequence = Math.Max(lastSequence, e.Sequence);
            await projection.ApplyAsync(session, e, ct);
            foreach (var operation in session.PendingChanges.Operations())
            {
                if (operation is not Weasel.Storage.IDocumentStorageOperation { Document: SupportOverride document }
                    || operation.Role() is not (OperationRole.Upsert or OperationRole.Insert))
                    throw new InvalidOperationException($"{projection.Name}: a handler did something other than store a {nameof(SupportOverride)} ({operation.GetType().Name}); rebuild it with 'projections rebuild'.");
                await onOverride(document);
            }

            // Handed on: the session holds one event's stores at a time, however many overrides the replay makes.
            session.EjectAllPendingChanges();
        }

        return (events, lastSequence);
    }

    /// <summary>
    /// One projection's rebuild in one transaction: the old documents, the new ones and the progression change together, readers
    /// wait on the table's lock instead of seeing a partial projection, and a rebuild that fails (disposed uncommitted) leaves
    /// the old documents as they were.
    /// </summary>
    private sealed class ProjectionRebuild : IAsyncDisposable
    {
        private readonly string _name;
        private readonly string _shard;
        private readonly string _schema;
        private readonly long _highWater;
        private readonly NpgsqlConnection _connection;
        private readonly NpgsqlTransaction _transaction;
        private readonly DocumentCopy _copy;
        private readonly NpgsqlBinaryImporter _importer;
        private readonly IReadOnlyList<string> _indexesToBuild;

        private ProjectionRebuild(string name, string shard, string schema, long highWater, NpgsqlConnection connection,
            NpgsqlTransaction transaction, DocumentCopy copy, NpgsqlBinaryImporter importer, IReadOnlyList<string> indexesToBuild)
        {
            (_name, _shard, _schema, _highWater) = (name, shard, schema, highWater);
            (_connection, _transaction, _copy, _importer, _indexesToBuild) = (connection, transaction, copy, importer, indexesToBuild);
        }

        /// <summary>
        /// Opens the transaction, reads the event store's high-water mark, empties the table and begins the COPY. With
        /// <paramref name="buildIndexesAfter"/>, the table's primary key and non-unique indexes are dropped in the transaction
        /// and created again, by their own definitions, before it commits: cheaper than keeping them up row by row when nothing
        /// else runs beside the COPY (while a fold feeds a COPY, the upkeep overlaps the fold and a build after would not).
        /// </summary>
        public static async Task<ProjectionRebuild> BeginAsync(IDocumentStore store, string name, string shard, Type documentType, CancellationToken ct,
            bool buildIndexesAfter = false)
        {
            var schema = store.Options.Events.DatabaseSchemaName;
            var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
            try
            {
                await connection.OpenAsync(ct);
                var transaction = await connection.BeginTransactionAsync(ct);
                long highWater;
                await using (var max = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {schema}.mt_events", connection))
                    highWater = (long)(await max.ExecuteScalarAsync(ct))!;
                var copy = await DocumentCopy.ForAsync(store, documentType, connection, ct);
                await using (var truncate = new NpgsqlCommand($"truncate {copy.Table}", connection))
                    await truncate.ExecuteNonQueryAsync(ct);
                var indexes = buildIndexesAfter ? await DropIndexesAsync(connection, copy.Table, ct) : [];
                var importer = await connection.BeginBinaryImportAsync(copy.Command, ct);
                return new ProjectionRebuild(name, shard, schema, highWater, connection, transaction, copy, importer, indexes);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }

        // Drops the table's primary key and non-unique indexes (any other unique index stays, checking every row as it comes)
        // and gives the statements that make them again, the key first.
        private static async Task<IReadOnlyList<string>> DropIndexesAsync(NpgsqlConnection connection, string table, CancellationToken ct)
        {
            var indexes = new List<(string Drop, string Create)>();
            await using (var query = new NpgsqlCommand(
                             "select format('alter table %s drop constraint %I', $1, c.conname), " +
                             "format('alter table %s add constraint %I %s', $1, c.conname, pg_get_constraintdef(c.oid)), 0 " +
                             "from pg_constraint c where c.conrelid = $1::regclass and c.contype = 'p' " +
                             "union all " +
                             "select format('drop index %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 1 from pg_index i " +
                             "where i.indrelid = $1::regclass and not i.indisunique and not i.indisprimary order by 3", connection))
            {
                query.Parameters.AddWithValue(table);
                await using var reader = await query.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                    indexes.Add((reader.GetString(0), reader.GetString(1)));
            }

            foreach (var (drop, _) in indexes)
            {
                await using var command = new NpgsqlCommand(drop, connection);
                await command.ExecuteNonQueryAsync(ct);
            }

            return [.. indexes.Select(i => i.Create)];
        }

        public Task WriteAsync(object id, object document, long version, CancellationToken ct) => _copy.WriteAsync(_importer, id, document, version, ct);

        /// <summary>
        /// Ends the COPY, sets the shard's progression to the event store's high-water mark when the rebuild started (or the last
        /// event read, if later), so the daemon resumes from there, and commits.
        /// </summary>
        /// <param name="clock">The lane's: the projection's time is read once it has committed (until 2026-12-03 it was read before
        /// the COPY's end, the index builds and the commit, which the claims' time then left out).</param>
        public async Task<FastRebuildResult> CommitAsync(long events, long documents, long lastSequence, Stopwatch clock, CancellationToken ct)
        {
            await _importer.CompleteAsync(ct);
            // Disposed before the next command: the connection is the COPY's until then.
            await _importer.DisposeAsync();
            foreach (var definition in _indexesToBuild)
            {
                // An index build of a large table may take longer than a command's usual timeout.
                await using var create = new NpgsqlCommand(definition, _connection) { CommandTimeout = 0 };
                await create.ExecuteNonQueryAsync(ct);
            }

            await using (var progression = new NpgsqlCommand(
                             $"insert into {_schema}.mt_event_progression (name, last_seq_id, last_updated) values ($1, $2, now()) " +
                             "on conflict (name) do update set last_seq_id = excluded.last_seq_id, last_updated = excluded.last_updated", _connection))
            {
                progression.Parameters.AddWithValue(_shard);
                progression.Parameters.AddWithValue(Math.Max(lastSequence, _highWater));
                await progression.ExecuteNonQueryAsync(ct);
            }

            await _transaction.CommitAsync(ct);
            return new FastRebuildResult(_name, events, documents, clock.Elapsed);
        }

        public async ValueTask DisposeAsync()
        {
            // An importer not completed cancels its COPY (disposing a completed one again does nothing); an uncommitted
            // transaction rolls back.
            await _importer.DisposeAsync();
            await _transaction.DisposeAsync();
            await _connection.DisposeAsync();
        }
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

public sealed class FastRebuildInput : LedgerInput
{
    [Description("Rebuild only this single-stream projection, the serial claims or the support overrides (default: every stored projection)")]
    public string? ProjectionFlag { get; set; }

    /// <summary><see cref="RebuildOverBrokenChains"/>.</summary>
    [Description(RebuildOverBrokenChains.FlagDescription)]
    [FlagAlias("despite-chain-breaks", true)]
    public bool DespiteChainBreaksFlag { get; set; }
}

[Description("Rebuilds every stored projection (or the one named): single-stream projections, the serial claims and the support overrides by replaying the events in memory and bulk-copying the documents, the old e-mail claims by Marten's daemon meanwhile; run it with the service stopped",
    Name = "projections-fast-rebuild")]
public sealed class FastRebuildCommand : JasperFxAsyncCommand<FastRebuildInput>
{
    public override async Task<bool> Execute(FastRebuildInput input)
    {
        using var host = await input.BuildLedgerHostAsync();
        if (!await RebuildOverBrokenChains.AllowsAsync(host.Services, input.DespiteChainBreaksFlag, Console.Error, CancellationToken.None))
            return false;
        var rebuild = new FastRebuild(host.Services.GetRequiredService<IDocumentStore>());
        IReadOnlyList<FastRebuildResult> results;
        try
        {
            results = input.ProjectionFlag is { } one
                ? await rebuild.RebuildAsync([one], CancellationToken.None)
                : await rebuild.RebuildEveryProjectionAsync(CancellationToken.None);
        }
        catch (FastRebuildRefusedException refused)
        {
            // Refused before anything began: the reason, not a stack trace.
            await Console.Error.WriteLineAsync(refused.Message);
            return false;
        }

        // The report is this command's output, not a log line.
        foreach (var r in results)
            await Console.Out.WriteLineAsync(r.ByMartensDaemon
                ? $"{r.Projection}: rebuilt by Marten's daemon in {r.Elapsed.TotalSeconds:0.0} s"
                : $"{r.Projection}: {Counted(r.Events, "event")} folded into {Counted(r.Documents, "document")} in {r.Elapsed.TotalSeconds:0.0} s");
        return true;
    }

    private static string Counted(long count, string noun) => $"{count:N0} {noun}{(count == 1 ? "" : "s")}";
}
