using System.Globalization;
using Marten;
using Npgsql;

namespace CpsLedger.Api.Audit;

/// <summary>The first place where an account's stored events no longer match its hash chain.</summary>
/// <param name="Problem">edited (the event's content no longer hashes to its link), hash_altered (the link's stored hash was changed,
/// its event is the one chained: the next link still hashes over the hash it had), removed (the linked event is gone),
/// reordered (the event's sequence is not the one chained, or its version is out of step with its stream's order), archived
/// (the event is marked archived, which every read and replay leaves out), or unchained (an event of the account has no link).
/// Checking exported heads (the verify command's --heads, never an HTTP answer) says of a head: rewritten (its link is in the chain
/// and hashes otherwise), truncated (the chain ends before it) or missing (the database holds no link of its chain: a chain begun
/// after the backup a database was restored from, or deleted whole).</param>
/// <param name="ChainId">The broken chain.</param>
/// <param name="Position">The link's position in the chain.</param>
/// <param name="EventId">The event at the break; null when it is gone.</param>
/// <param name="Sequence">That event's ledger sequence; null when it is gone.</param>
/// <param name="Type">What the event at the break is, its type as the history's entries name it (e.g. <c>points_adjusted</c>), as
/// stored now; null when it is gone, and on an exported head.</param>
/// <param name="RecordedAt">Since when the chain no longer vouches for the account: when the event at the break was recorded, as
/// stored now (the history's <c>at</c>; an edit may have changed it too), so time travel to a moment before it folds only what was
/// chained up to there. Null when the event is gone, and on an exported head.</param>
public sealed record ChainBreak(Guid ChainId, long Position, Guid? EventId, long? Sequence, string Problem, string? Type, DateTimeOffset? RecordedAt);

/// <summary>One chain's head as exported for safekeeping outside the database.</summary>
public sealed record ChainHead(Guid ChainId, long Position, long Sequence, string Hash);

public sealed class ChainVerification(IDocumentStore store)
{
    private string Schema => store.Options.Events.DatabaseSchemaName;

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        return connection;
    }

    /// <summary>
    /// Recomputes every link of the chain (or of every chain) from the stored events and reports every link that no longer matches,
    /// each chain's in link order. A link hashes over the previous stored link, so an edit breaks its own link only and the links
    /// after it are checked as they are: a second edit further on is named too (until 2026-12-07 only the first of each chain was,
    /// so verification named one altered event where the history marked two).
    /// </summary>
    /// <param name="chainIds">The chains to check (null: every chain).</param>
    /// <param name="streams">Streams whose every event must have a link (null: every event of the ledger when
    /// <paramref name="chainIds"/> is null too, otherwise not checked).</param>
    /// <param name="connections">For every chain (<paramref name="chainIds"/> null): the links recomputed in this many parts, split
    /// by chain, each on a connection of its own at once. One backend recomputes a statement's links (a window per chain), so on
    /// a server with cores to spare the parts finish sooner: the rebuild commands' check, which runs alone, takes two (about
    /// 1.4× faster at 400,000 events on this 2-core host, BENCHMARKS.md); verification, which checks beside its comparisons, one.</param>
    public async Task<IReadOnlyList<ChainBreak>> VerifyAsync(IReadOnlyCollection<Guid>? chainIds, IReadOnlyCollection<Guid>? streams, CancellationToken ct,
        int connections = 1)
    {
        var chains = chainIds?.Distinct().ToArray();
        var parts = chains is null ? Math.Max(1, connections) : 1;
        // The other parts' links, each read on its own connection while this one reads the first part and the other checks.
        var otherParts = Enumerable.Range(1, parts - 1).Select(part => LinkBreaksAsync(PartOf(part, parts), ct)).ToList();
        try
        {
            return await VerifyAsync(chains, streams, parts, otherParts, ct);
        }
        catch when (otherParts.Count > 0)
        {
            // The other parts end and are observed before the failure goes on, not left running on their connections.
            await Task.WhenAll(otherParts).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            throw;
        }
    }

    private async Task<IReadOnlyList<ChainBreak>> VerifyAsync(Guid[]? chains, IReadOnlyCollection<Guid>? streams, int parts,
        IReadOnlyList<Task<IReadOnlyList<ChainBreak>>> otherParts, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // One finding per link (an unchained event has no link: per event), the link's own check before the out-of-step one.
        var breaks = new Dictionary<(Guid Chain, long Position, Guid? Event), ChainBreak>();
        // The three checks in one batch, one round trip (issue #21; until 2026-12-05 a round trip each), read in order below.
        await using var batch = new NpgsqlBatch(connection);

        var links = $"{LinksSql(chains is not null ? "where c.chain_id = any(@chains)" : parts > 1 ? PartOf(0, parts) : "")} order by l.chain_id, l.position";
        batch.BatchCommands.Add(Command(links, ("chains", chains)));

        // What the link's text leaves out but every read depends on: Marten leaves an archived event out of every read, replay
        // and rebuild, and replays a stream in its versions' order. So an archived event, or versions out of step with the
        // stream's appends (1, 2, 3, ... in sequence order), is the account's story changed while every link still hashes.
        // Each stream is walked in version order (its unique index's order, no sort); a whole stream, as a migrated product's
        // old account stream holds events of other chains too; only the chains asked about are reported.
        var streamsOfChains = chains is null
            ? "true"
            : $"e.stream_id in (select l.stream_id from {Schema}.mt_events l join {Schema}.{HashChainSchema.TableName} c on c.event_id = l.id where c.chain_id = any(@chains))";
        var outOfStep = $"""
            select c.chain_id, c.position, e.id, e.seq_id, e.is_archived, e.type, e.timestamp
            from (select e.id, e.seq_id, e.version, e.is_archived, e.type, e.timestamp,
                         lag(e.version) over w as previous_version, lag(e.seq_id) over w as previous_sequence
                  from {Schema}.mt_events e
                  where e.type <> 'tombstone' and {streamsOfChains}
                  window w as (partition by e.stream_id order by e.version)) e
            join {Schema}.{HashChainSchema.TableName} c on c.event_id = e.id
            where (e.is_archived or e.version <> coalesce(e.previous_version, 0) + 1 or e.seq_id < e.previous_sequence)
                  {(chains is null ? "" : "and c.chain_id = any(@chains)")}
            order by c.chain_id, c.position
            """;
        batch.BatchCommands.Add(Command(outOfStep, ("chains", chains)));

        // Events of these streams (or of the whole ledger) that never got a link (appended with the trigger disabled, or
        // inserted around it).
        var everyEvent = chains is null && streams is null;
        var checksUnchained = everyEvent || streams is { Count: > 0 };
        if (checksUnchained)
        {
            var unchained = $"""
                select e.id, e.seq_id, {HashChainSchema.ChainKeySql("e")}, e.type, e.timestamp from {Schema}.mt_events e
                where {(everyEvent ? "true" : "e.stream_id = any(@streams)")}
                  and not exists (select 1 from {Schema}.{HashChainSchema.TableName} c where c.event_id = e.id)
                order by e.seq_id
                """;
            batch.BatchCommands.Add(Command(unchained, ("streams", everyEvent ? null : streams!.ToArray())));
        }

        await using var reader = await batch.ExecuteReaderAsync(ct);
        foreach (var broken in await LinkBreaksAsync(reader, ct))
            breaks[(broken.ChainId, broken.Position, null)] = broken;
        foreach (var part in otherParts)
        {
            foreach (var broken in await part)
                breaks[(broken.ChainId, broken.Position, null)] = broken;
        }

        await reader.NextResultAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var chain = reader.GetGuid(0);
            breaks.TryAdd((chain, reader.GetInt64(1), null),
                new ChainBreak(chain, reader.GetInt64(1), reader.GetGuid(2), reader.GetInt64(3), reader.GetBoolean(4) ? "archived" : "reordered",
                    reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6)));
        }

        if (checksUnchained && await reader.NextResultAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var chain = reader.GetGuid(2);
                breaks.TryAdd((chain, 0, reader.GetGuid(0)), new ChainBreak(chain, 0, reader.GetGuid(0), reader.GetInt64(1), "unchained",
                    reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4)));
            }
        }

        // Each chain's findings in link order; its unchained events (position 0) first, by sequence.
        return [.. breaks.Values.OrderBy(b => b.ChainId).ThenBy(b => b.Position).ThenBy(b => b.Sequence)];
    }

    // One part of every chain, split by the chain id's hash: a chain's links all fall in one part, as its window needs.
    private static string PartOf(int part, int parts) => $"where (hashtext(c.chain_id::text) & 2147483647) % {parts} = {part}";

    /// <summary>The broken links of one part of every chain (<see cref="PartOf"/>), read on a connection of its own.</summary>
    private async Task<IReadOnlyList<ChainBreak>> LinkBreaksAsync(string part, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand(LinksSql(part), connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await LinkBreaksAsync(reader, ct);
    }

    /// <summary>The broken links among the rows of <see cref="LinksSql"/> the reader is on.</summary>
    private static async Task<IReadOnlyList<ChainBreak>> LinkBreaksAsync(NpgsqlDataReader reader, CancellationToken ct)
    {
        var breaks = new List<ChainBreak>();
        while (await reader.ReadAsync(ct))
        {
            if (LinkBreak(reader.GetGuid(0), reader.GetInt64(1), reader.GetGuid(2), reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetInt64(4), !reader.IsDBNull(5) && reader.GetBoolean(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                    !reader.IsDBNull(8) && reader.GetBoolean(8)) is { } broken)
                breaks.Add(broken);
        }

        return breaks;
    }

    /// <summary>
    /// Every link of the chains <paramref name="where"/> keeps, recomputed from the event it links as it is stored now: chain,
    /// position, the linked event, the sequence chained, the event's sequence now (null: the event is gone), whether the link still
    /// hashes (<see cref="HashChainSchema.LinkSql"/> over the stored previous link, so an edit breaks its own link only), and whether
    /// its stored hash alone was altered. A link whose event hashes to the stored link only over the previous link as recomputed (not
    /// as stored) is intact: its event is the one chained, and the previous link's stored hash was altered. That previous link is
    /// <c>hash_altered</c> (its event is the one the next link chained over), not <c>edited</c>: until 2026-12-07 altering a stored
    /// hash named two events edited. Each event's canonical text is built once and hashed over both previous links.
    /// </summary>
    private string LinksSql(string where) => $"""
        select l.chain_id, l.position, l.event_id, l.chained_sequence, l.stored_sequence, l.intact or coalesce(l.heals, false) as intact,
               l.type, l.timestamp, not l.intact and coalesce(lead(l.heals) over w, false) as hash_altered
        from (select l.*, l.hash = {HashChainSchema.LinkOverSql("lag(l.recomputed) over w", "l.canonical")} as heals,
                     l.hash = l.recomputed as intact
              from (select k.*, {HashChainSchema.LinkOverSql("lag(k.hash) over (partition by k.chain_id order by k.position)", "k.canonical")} as recomputed
                    from (select c.chain_id, c.position, c.event_id, c.seq_id as chained_sequence, e.seq_id as stored_sequence, c.hash,
                                 convert_to({HashChainSchema.CanonicalEventSql("e")}, 'UTF8') as canonical, e.type, e.timestamp
                          from {Schema}.{HashChainSchema.TableName} c
                          left join {Schema}.mt_events e on e.id = c.event_id
                          {where}) k) l
              window w as (partition by l.chain_id order by l.position)) l
        window w as (partition by l.chain_id order by l.position)
        """;

    /// <summary>What is wrong with one link as <see cref="LinksSql"/> recomputed it; null when nothing is.</summary>
    private static ChainBreak? LinkBreak(Guid chain, long position, Guid eventId, long chainedSequence, long? storedSequence, bool intact,
        string? type, DateTimeOffset? recordedAt, bool hashAltered) =>
        storedSequence is not { } stored ? new ChainBreak(chain, position, eventId, chainedSequence, "removed", null, null)
        : stored != chainedSequence ? new ChainBreak(chain, position, eventId, stored, "reordered", type, recordedAt)
        : !intact ? new ChainBreak(chain, position, eventId, chainedSequence, hashAltered ? "hash_altered" : "edited", type, recordedAt)
        : null;

    /// <summary>
    /// Every link of the chains given that no longer matches its stored event (edited, removed or reordered: the links' own check,
    /// not the archived, out-of-step or unchained events only verification looks for), read in the reader's batch beside its
    /// other reads: what the history and time travel mark. The chains' links are recomputed in the database; only the broken
    /// ones come back.
    /// </summary>
    public Func<Task<IReadOnlyList<ChainBreak>>> BrokenLinksIn(Marten.Services.BatchQuerying.IBatchedQuery batch, IReadOnlyCollection<Guid> chainIds)
    {
        // A JSON object a row, as a query session reads a row of several columns.
        var rows = batch.Query<BrokenLink>($"""
            select json_build_object('ChainId', l.chain_id, 'Position', l.position, 'EventId', l.event_id,
                                     'ChainedSequence', l.chained_sequence, 'StoredSequence', l.stored_sequence, 'Intact', coalesce(l.intact, false),
                                     'Type', l.type, 'RecordedAt', l.timestamp, 'HashAltered', coalesce(l.hash_altered, false))
            from ({LinksSql("where c.chain_id = any(?)")}) l
            where l.stored_sequence is distinct from l.chained_sequence or l.intact is not true
            order by l.chain_id, l.position
            """, chainIds.Distinct().ToArray());
        return async () => [.. (await rows).Select(r => LinkBreak(r.ChainId, r.Position, r.EventId, r.ChainedSequence, r.StoredSequence, r.Intact,
            r.Type, r.RecordedAt, r.HashAltered)!)];
    }

    private sealed record BrokenLink(Guid ChainId, long Position, Guid EventId, long ChainedSequence, long? StoredSequence, bool Intact,
        string? Type, DateTimeOffset? RecordedAt, bool HashAltered);

    // A statement of the batch, with its array parameter when it has one (null: the statement takes none).
    private static NpgsqlBatchCommand Command(string sql, (string Name, Guid[]? Value) parameter)
    {
        var command = new NpgsqlBatchCommand(sql);
        if (parameter.Value is not null)
            command.Parameters.AddWithValue(parameter.Name, parameter.Value);
        return command;
    }

    /// <summary>
    /// The events linked on an account's own chain that are stored outside the streams given: a product migrated from an old
    /// CPS account is recorded on that old account's stream, naming the account it moved to. Their streams and sequences. Read
    /// through the reader's session, as its other reads are (until 2026-12-05 on a connection opened for it).
    /// </summary>
    public async Task<IReadOnlyList<(Guid StreamId, long Sequence)>> LinkedElsewhereAsync(IQuerySession session, Guid accountId,
        IReadOnlyCollection<Guid> streams, CancellationToken ct)
    {
        // A JSON object a row, as a query session reads a row of several columns.
        var rows = await session.QueryAsync<LinkedEvent>($"""
            select json_build_object('StreamId', e.stream_id, 'Sequence', e.seq_id)
            from {Schema}.{HashChainSchema.TableName} c
            join {Schema}.mt_events e on e.seq_id = c.seq_id
            where c.chain_id = ? and e.stream_id <> all(?)
            """, ct, accountId, streams.Distinct().ToArray());
        return [.. rows.Select(r => (r.StreamId, r.Sequence))];
    }

    private sealed record LinkedEvent(Guid StreamId, long Sequence);

    /// <summary>The last link of every chain (or of the chains given): what an auditor keeps outside the database.</summary>
    public async Task<IReadOnlyList<ChainHead>> HeadsAsync(CancellationToken ct, IReadOnlyCollection<Guid>? chainIds = null)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            select distinct on (chain_id) chain_id, position, seq_id, encode(hash, 'hex')
            from {Schema}.{HashChainSchema.TableName}
            {(chainIds is null ? "" : "where chain_id = any(@chains)")}
            order by chain_id, position desc
            """, connection);
        if (chainIds is not null)
            command.Parameters.AddWithValue("chains", chainIds.Distinct().ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct);
        var heads = new List<ChainHead>();
        while (await reader.ReadAsync(ct))
            heads.Add(new ChainHead(reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetString(3)));
        return heads;
    }

    /// <summary>
    /// Heads exported earlier must still be links of their chains, with the same hash: otherwise history was rewritten, or, where the
    /// link is not there at all, the chain was cut short (truncated) or is not in the database (missing). The last two are what a
    /// database restored from a backup older than the heads file shows of the chains that grew or began since; only the first says
    /// that a stored link changed. One query for the whole file, each head looked up by the chain's primary key (until 2026-12-06 a
    /// query per head: a round trip each); the heads that still match stay in the database.
    /// </summary>
    public async Task<IReadOnlyList<ChainBreak>> CheckHeadsAsync(IEnumerable<ChainHead> exported, CancellationToken ct)
    {
        var heads = exported.ToList();
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            select h.ord, case when c.hash is not null then 'rewritten'
                                 when exists (select 1 from {Schema}.{HashChainSchema.TableName} x where x.chain_id = h.chain_id) then 'truncated'
                                 else 'missing' end
            from unnest(@chains, @positions, @hashes) with ordinality as h(chain_id, position, hash, ord)
            left join {Schema}.{HashChainSchema.TableName} c on c.chain_id = h.chain_id and c.position = h.position
            where encode(c.hash, 'hex') is distinct from lower(h.hash)
            order by h.ord
            """, connection);
        command.Parameters.AddWithValue("chains", heads.Select(h => h.ChainId).ToArray());
        command.Parameters.AddWithValue("positions", heads.Select(h => h.Position).ToArray());
        command.Parameters.AddWithValue("hashes", heads.Select(h => h.Hash).ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct);
        var breaks = new List<ChainBreak>();
        while (await reader.ReadAsync(ct))
        {
            var head = heads[(int)reader.GetInt64(0) - 1];
            breaks.Add(new ChainBreak(head.ChainId, head.Position, null, head.Sequence, reader.GetString(1), null, null));
        }

        return breaks;
    }

    public const string HeadsFileHeader = "chain_id,position,sequence,hash";

    public static string WriteHeads(IEnumerable<ChainHead> heads) =>
        string.Join('\n', new[] { HeadsFileHeader }.Concat(heads.Select(h =>
            string.Create(CultureInfo.InvariantCulture, $"{h.ChainId},{h.Position},{h.Sequence},{h.Hash}")))) + "\n";

    public static IReadOnlyList<ChainHead> ReadHeads(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line != HeadsFileHeader)
            .Select((line, index) =>
            {
                var parts = line.Split(',');
                if (parts.Length != 4 || !Guid.TryParse(parts[0], out var chain) || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var position)
                    || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out var sequence))
                    throw new FormatException($"Line {index + 2} of the heads file is not \"{HeadsFileHeader}\".");
                return new ChainHead(chain, position, sequence, parts[3]);
            })];
}
