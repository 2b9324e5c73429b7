using System.Text.Json;
using System.Text.Json.Nodes;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using JasperFx.CommandLine;
using JasperFx.Events;
using Marten;
using Marten.Events;
using Marten.Events.Aggregation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>One way a stored projection disagrees with a replay of its events, a column copied out of a stored document (what lists
/// and lookups read: an invoice's figures, a product's or a claim's account) with that document, a running total an invoice's payment
/// event records with the sum of the amounts before it, or an invoice or credit note number's claim with the event that issued the
/// number.</summary>
/// <param name="Field">JSON path of the differing field; "(document)" when the whole document is missing on one side; "(column) "
/// and the column's name (e.g. "(column) total") for a column whose value is not the stored document's; "(event " and the event's
/// version in the invoice's stream, its type and field (e.g. "(event 3) payment_received.TotalReceived") for a running total that is
/// not the sum of the stream's amounts; "(claim)" for an invoice or credit note number issued with no claim or claimed with no event
/// that issued it, and "(claim) " and the claim's field ("(claim) InvoiceId", "(claim) AccountId") for a claim naming another invoice
/// or account than that event.</param>
/// <param name="Document">The kind of stored document (a read model), e.g. "AccountView"; for a running total, "Invoice"; for a number's
/// claim, "InvoiceNumberClaim" or "CreditNoteNumberClaim".</param>
/// <param name="Id">The document's id (for a running total, the invoice's; for a claim, the number).</param>
/// <param name="Stored">The stored value (JSON), for a column the column's, for a running total the event's, for a number the claim's
/// (its invoice and account, or the field); null when absent there.</param>
/// <param name="Replayed">The value a replay of the events gives (JSON), for a column the stored document's (the value the column
/// copies), for a running total the sum of the amounts recorded up to and with the event, for a number the event's that issued it;
/// null when absent there.</param>
public sealed record ProjectionDifference(string Document, string Id, string Field, string? Stored, string? Replayed);

/// <summary>What verification compared: stored read models against a replay of their events, and the hash chains.</summary>
/// <param name="AccountId">The account verified; null when every account was.</param>
/// <param name="CheckedAt">When the check ran, UTC.</param>
/// <param name="AccountsChecked">Accounts checked.</param>
/// <param name="DocumentsChecked">Stored documents compared with their replay.</param>
/// <param name="Differences">Every disagreement found; empty when none.</param>
/// <param name="ChainBreaks">Every link of a hash chain found broken (each chain's in link order); empty when none.</param>
public sealed record VerificationReport(
    Guid? AccountId,
    DateTimeOffset CheckedAt,
    int AccountsChecked,
    int DocumentsChecked,
    IReadOnlyList<ProjectionDifference> Differences,
    IReadOnlyList<ChainBreak> ChainBreaks)
{
    /// <summary>The projections equal the replay and every hash chain is intact.</summary>
    public bool Agrees => Differences.Count == 0 && ChainBreaks.Count == 0;
}

/// <summary>
/// Replays the events behind every stored projection and compares field by field. Read-only, so it runs while the service
/// serves; a document written between the read and the replay can show as a transient difference, which a second run clears.
/// One account: each of its documents against the replay of its stream. The whole ledger: every single-stream projection
/// in one scan of its events, folded in memory as the fast rebuild folds them (<see cref="FastRebuild.FoldEachStreamAsync{TDoc}"/>)
/// and compared with the stored documents in batches, instead of two round trips a document; two projections at a time, and
/// the hash chains and the documents' duplicated columns (<see cref="DuplicatedColumns"/>: one query each) alongside. The support overrides (an event projection) are replayed by their projection's handlers from
/// the events that can be one and compared the same way, field by field; the claim rows (serial numbers, old e-mails, membership
/// numbers) are compared as sets, and so are the invoice and credit note number claims with the events that issued the numbers
/// (<see cref="DocumentNumberClaims"/>); the invoices' payment events' running totals with the sums of their amounts (<see cref="RunningTotals"/>).
/// For the ledger the invoices' events those two check are one read; an account's are read with its documents, and its number claims
/// too (those naming it; the claims of numbers its events issue that do not, after, only when there is one). One account: its documents'
/// duplicated columns (the rows whose account column names it) after its documents.
/// </summary>
public sealed class Verification(IDocumentStore store, ChainVerification chains)
{
    private const int DocumentsPerBatch = 500;

    public async Task<VerificationReport> RunAsync(Guid? accountId, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var differences = new List<ProjectionDifference>();
        var documents = 0;

        IReadOnlyList<Guid> accounts;
        IReadOnlyList<ChainBreak> breaks;
        if (accountId is { } one)
        {
            accounts = [one];
            // The chains the account's hash-chain status shows (AccountChains): its own, its streams', its old CPS accounts'.
            // First: they are read as SQL, so they name an edited event even when the replay below cannot read it.
            var scope = await AccountChains.OfAsync(session, chains, one, ct);
            breaks = await chains.VerifyAsync(scope.ChainIds, scope.StreamIds, ct);
            try
            {
                var (compared, replayedProducts, events, sets) = await CompareAccountDocuments(session, scope, differences, ct);
                documents += compared + await CompareAccountSets(session, one, replayedProducts, events, sets, differences, ct);
                differences.AddRange(RunningTotals.Compare(events));
            }
            catch (Exception e) when (UnreadableEvent(e) is { } unreadable)
            {
                differences.Add(NotReplayed(one.ToString(), unreadable));
            }

            differences.AddRange(await DuplicatedColumns.CompareAsync(store, one, ct));
        }
        else
        {
            // Every account that has a stream, whether or not its view survived.
            var viewed = await session.Query<AccountView>().Select(a => a.Id).ToListAsync(ct);
            var opened = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "business_account_opened")
                .Select(e => e.StreamId).ToListAsync(ct);
            accounts = viewed.Union(opened).ToList();

            // The hash chains (one query: PostgreSQL's work) are checked while the projections are compared.
            var chainCheck = chains.VerifyAsync(null, null, ct);
            // So are the documents' duplicated columns against their documents (one query too).
            var columnCheck = DuplicatedColumns.CompareAsync(store, null, ct);
            try
            {
                var (found, compared, replayedProducts) = await CompareEveryProjectionAsync(ct);
                differences.AddRange(found);
                documents += compared + await CompareAllSets(session, replayedProducts, differences, ct);
            }
            catch (Exception e) when (UnreadableEvent(e) is { } unreadable)
            {
                differences.Add(NotReplayed("(ledger)", unreadable));
            }
            differences.AddRange(await columnCheck);
            breaks = await chainCheck;
        }

        return new VerificationReport(accountId, DateTimeOffset.UtcNow, accounts.Count, documents, differences, breaks);
    }

    /// <summary>
    /// A stored event whose JSON no longer has its type's shape (edited in the database) cannot be replayed: the replay is
    /// reported as not done, and the chains, checked as SQL, name the event. Never the request's fault: the report says so.
    /// </summary>
    private static JsonException? UnreadableEvent(Exception e) => e switch
    {
        JsonException json => json,
        AggregateException a => a.Flatten().InnerExceptions.Select(UnreadableEvent).FirstOrDefault(j => j is not null),
        _ => e.InnerException is { } inner ? UnreadableEvent(inner) : null,
    };

    private static ProjectionDifference NotReplayed(string id, JsonException unreadable) =>
        new("(events)", id, "(replay)", $"unreadable: {unreadable.Message}", null);

    /// <summary>The account's claim rows and the ids of its stored support overrides, read with its documents.</summary>
    private sealed record StoredSets(IReadOnlyList<SerialOwnership> Claims, IReadOnlyList<Migration.OldCpsEmailClaim> EmailClaims,
        IReadOnlyList<MembershipNumberClaim> NumberClaims, IReadOnlyList<Invoicing.InvoiceNumberClaim> InvoiceNumberClaims,
        IReadOnlyList<Invoicing.CreditNoteNumberClaim> CreditNoteNumberClaims, HashSet<Guid> Overrides);

    /// <summary>
    /// Each stored document of the account against the replay of its stream; the replayed products, the events and the stored sets
    /// read for the sets. One round trip however many products and invoices the account has: the stored documents, the account's
    /// claim rows and overrides and every stream's events are read in one batch, then each stream is replayed in memory by Marten's
    /// own aggregation (<see cref="StreamReplay"/>, as time travel does). Until 2026-12-05 each document was loaded and its stream
    /// replayed by a query of its own (three per product, two per invoice), and each kind of claim row and the overrides were a
    /// round trip of their own.
    /// </summary>
    private async Task<(int Compared, List<ProductView> ReplayedProducts, IReadOnlyList<IEvent> Events, StoredSets Sets)> CompareAccountDocuments(
        IQuerySession session, AccountChains scope, List<ProjectionDifference> differences, CancellationToken ct)
    {
        var accountId = scope.AccountId;
        var oldAccounts = scope.OldCpsAccounts;
        var invoiceIds = scope.Streams.Where(s => s.Kind == AccountStreamKind.Invoice).Select(s => s.StreamId).ToList();
        var registrationIds = scope.Streams.Where(s => s.Kind == AccountStreamKind.Registration).Select(s => s.StreamId).ToList();
        var streamIds = scope.StreamIds.Concat(oldAccounts).Distinct().ToArray();

        var batch = session.CreateBatchQuery();
        var legacyRead = batch.LoadMany<Migration.LegacyAccountView>().ByIdList(oldAccounts);
        var accountRead = batch.Load<AccountView>(accountId);
        var adjustmentsRead = batch.Load<AccountAdjustments>(accountId);
        var membershipRead = batch.Load<AccountMembership>(MembershipStream.For(accountId));
        var cardRead = batch.Load<Invoicing.PaymentCard>(Invoicing.PaymentCardStream.For(accountId));
        var invoicesRead = batch.LoadMany<Invoicing.Invoice>().ByIdList(invoiceIds);
        var productsRead = batch.LoadMany<ProductView>().ByIdList(registrationIds);
        var claimsRead = batch.Query<SerialOwnership>().Where(c => c.AccountId == accountId).ToList();
        var emailClaimsRead = batch.Query<Migration.OldCpsEmailClaim>().Where(c => c.AccountId == accountId).ToList();
        var numberClaimsRead = batch.Query<MembershipNumberClaim>().Where(c => c.AccountId == accountId).ToList();
        var invoiceNumberClaimsRead = batch.Query<Invoicing.InvoiceNumberClaim>().Where(c => c.AccountId == accountId).ToList();
        var creditNoteNumberClaimsRead = batch.Query<Invoicing.CreditNoteNumberClaim>().Where(c => c.AccountId == accountId).ToList();
        var overridesRead = batch.Query<SupportOverride>().Where(o => o.AccountId == accountId).Select(o => o.Id).ToList();
        // Each stream in its versions' order, the order Marten replays it in.
        var eventsRead = batch.Query<IEvent>().Where(e => e.StreamId.IsOneOf(streamIds)).OrderBy(e => e.Version).ToList();
        await batch.Execute(ct);
        var events = await eventsRead;
        var replay = new StreamReplay(session, events);

        var count = 0;
        var legacy = (await legacyRead).ToDictionary(v => v.Id);
        foreach (var oldAccount in oldAccounts)
            count += await Compare(replay, oldAccount, legacy.GetValueOrDefault(oldAccount), differences, ct);
        count += await Compare(replay, accountId, await accountRead, differences, ct);
        count += await Compare(replay, accountId, await adjustmentsRead, differences, ct);
        count += await Compare(replay, MembershipStream.For(accountId), await membershipRead, differences, ct);
        count += await Compare(replay, Invoicing.PaymentCardStream.For(accountId), await cardRead, differences, ct);
        var invoices = (await invoicesRead).ToDictionary(i => i.Id);
        foreach (var invoice in invoiceIds)
            count += await Compare(replay, invoice, invoices.GetValueOrDefault(invoice), differences, ct);

        var replayedProducts = new List<ProductView>();
        var products = (await productsRead).ToDictionary(p => p.Id);
        foreach (var registration in registrationIds)
        {
            count += await Compare(replay, registration, products.GetValueOrDefault(registration), differences, ct, replayedProducts.Add);
        }

        return (count, replayedProducts, events,
            new StoredSets(await claimsRead, await emailClaimsRead, await numberClaimsRead, await invoiceNumberClaimsRead,
                await creditNoteNumberClaimsRead, [.. await overridesRead]));
    }

    /// <summary>
    /// Every single-stream projection against the fold of its streams, as many at a time as the fast rebuild runs (each on a
    /// session of its own; verification only reads). The differences come back in the projections' order, whichever finished
    /// first, with the replayed products for the serial claims.
    /// </summary>
    private async Task<(List<ProjectionDifference> Differences, int Documents, List<ProductView> ReplayedProducts)> CompareEveryProjectionAsync(
        CancellationToken ct)
    {
        var fold = new FastRebuild(store);
        var projections = fold.SingleStreamProjections;
        var results = new (List<ProjectionDifference> Differences, List<ProductView> Products, int Documents)[projections.Count];
        var compareEvery = typeof(Verification).GetMethod(nameof(CompareEvery), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        await Parallel.ForEachAsync(Enumerable.Range(0, projections.Count),
            new ParallelOptions { MaxDegreeOfParallelism = fold.Parallelism, CancellationToken = ct }, async (i, token) =>
            {
                await using var session = store.QuerySession();
                var (projection, document) = projections[i];
                var differences = new List<ProjectionDifference>();
                var products = new List<ProductView>();
                var compared = await (Task<int>)compareEvery.MakeGenericMethod(document)
                    .Invoke(this, [fold, session, projection, differences, products, token])!;
                results[i] = (differences, products, compared);
            });
        return ([.. results.SelectMany(r => r.Differences)], results.Sum(r => r.Documents), [.. results.SelectMany(r => r.Products)]);
    }

    /// <summary>
    /// Every stored document of one single-stream projection against the fold of its stream (<see cref="CompareReplayed"/>).
    /// Replayed products are kept for the serial claims.
    /// </summary>
    private async Task<int> CompareEvery<TDoc>(FastRebuild fold, IQuerySession session, SingleStreamProjection<TDoc, Guid> projection,
        List<ProjectionDifference> differences, List<ProductView> replayedProducts, CancellationToken ct) where TDoc : class =>
        await CompareReplayed<TDoc>(session, await StoredIds(typeof(TDoc), ct), onDocument =>
            fold.FoldEachStreamAsync(session, projection, (id, replayed, _) =>
            {
                if (replayed is ProductView product)
                    replayedProducts.Add(product);
                return onDocument(id, replayed);
            }, ct), differences, ct);

    /// <summary>
    /// The support overrides (an event projection: a row per override event, its id the event's) against the overrides the
    /// events make, replayed by the projection's own handlers (<see cref="FastRebuild.ReplayOverridesAsync(Guid?, Func{SupportOverride, Task}, CancellationToken)"/>),
    /// field by field as the documents of the other projections: one account's (the rows and the events naming it), or every one.
    /// </summary>
    /// <param name="stored">The ids of the stored overrides: the account's (read with its documents), or every one.</param>
    private async Task<int> CompareOverrides(IQuerySession session, Guid? accountId, HashSet<Guid> stored, List<ProjectionDifference> differences,
        CancellationToken ct)
    {
        return await CompareReplayed<SupportOverride>(session, stored, onDocument =>
            new FastRebuild(store).ReplayOverridesAsync(accountId, o => onDocument(o.Id, o), ct), differences, ct);
    }

    /// <summary>
    /// Replayed documents against the stored ones: compared in batches as the replay hands them on, then every stored document
    /// (of <paramref name="unreplayed"/>, the ids stored before the replay) that the replay did not give.
    /// </summary>
    private async Task<int> CompareReplayed<TDoc>(IQuerySession session, HashSet<Guid> unreplayed, Func<Func<Guid, TDoc, Task>, Task> replay,
        List<ProjectionDifference> differences, CancellationToken ct) where TDoc : class
    {
        var name = typeof(TDoc).Name;
        var identity = new FastRebuild.IdentitySetter<TDoc>();
        var pending = new List<(Guid Id, TDoc Replayed)>(DocumentsPerBatch);
        var serializer = store.Options.Serializer();
        var count = 0;

        async Task CompareBatchAsync()
        {
            var stored = (await session.LoadManyAsync<TDoc>(ct, pending.Select(p => p.Id))).ToDictionary(identity.Identity);
            foreach (var (id, replayed) in pending)
            {
                count++;
                unreplayed.Remove(id);
                if (stored.TryGetValue(id, out var document))
                    DiffDocuments(name, id.ToString(), serializer.ToJson(document), serializer.ToJson(replayed), differences);
                else
                    differences.Add(new ProjectionDifference(name, id.ToString(), "(document)", null, "present"));
            }

            pending.Clear();
        }

        await replay(async (id, replayed) =>
        {
            pending.Add((id, replayed));
            if (pending.Count >= DocumentsPerBatch)
                await CompareBatchAsync();
        });
        if (pending.Count > 0)
            await CompareBatchAsync();

        foreach (var id in unreplayed.Order())
            differences.Add(new ProjectionDifference(name, id.ToString(), "(document)", "present", null));
        return count + unreplayed.Count;
    }

    private async Task<HashSet<Guid>> StoredIds(Type document, CancellationToken ct)
    {
        await using var connection = (Npgsql.NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new Npgsql.NpgsqlCommand($"select id from {DocumentCopy.DocumentTable(store, document)}", connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var ids = new HashSet<Guid>();
        while (await reader.ReadAsync(ct))
            ids.Add(reader.GetGuid(0));
        return ids;
    }

    /// <summary>The account's claim rows and support overrides against what its events say they must be.</summary>
    /// <param name="streamEvents">The events of the account's streams, read for its documents: its own and its membership's are
    /// what the old e-mail and number claims are made of.</param>
    /// <param name="stored">The account's claim rows and overrides, read with its documents.</param>
    private async Task<int> CompareAccountSets(IQuerySession session, Guid accountId, IReadOnlyList<ProductView> replayedProducts,
        IReadOnlyList<IEvent> streamEvents, StoredSets stored, List<ProjectionDifference> differences, CancellationToken ct)
    {
        var events = streamEvents.Where(e => e.StreamId == accountId || e.StreamId == MembershipStream.For(accountId)).OrderBy(e => e.Sequence).ToList();
        // The number claims naming the account, and those of the numbers its events give it (a claim moved to another account).
        var numbers = events.Select(e => e.Data switch
        {
            CpsJoined joined => joined.MembershipNumber,
            LegacyMembershipNumberRecorded recorded => recorded.MembershipNumber,
            _ => null,
        }).OfType<string>().Distinct().ToList();
        // The invoice and credit note numbers its invoices' events issue (DocumentNumberClaims).
        var issued = DocumentNumberClaims.IssuedIn(streamEvents.OrderBy(e => e.Sequence));
        var (invoiceNumbers, creditNoteNumbers) = issued;
        // The claims of those numbers not among those naming the account (a claim moved or missing), read only when there is one, all
        // kinds in one batch: a round trip a tampered account costs.
        var elsewhere = numbers.Except(stored.NumberClaims.Select(c => c.Id)).ToList();
        var invoicesElsewhere = invoiceNumbers.Keys.Except(stored.InvoiceNumberClaims.Select(c => c.Id)).ToList();
        var creditNotesElsewhere = creditNoteNumbers.Keys.Except(stored.CreditNoteNumberClaims.Select(c => c.Id)).ToList();
        IReadOnlyList<MembershipNumberClaim> numberClaimsElsewhere = [];
        IReadOnlyList<Invoicing.InvoiceNumberClaim> invoiceClaimsElsewhere = [];
        IReadOnlyList<Invoicing.CreditNoteNumberClaim> creditNoteClaimsElsewhere = [];
        if (elsewhere.Count + invoicesElsewhere.Count + creditNotesElsewhere.Count > 0)
        {
            var batch = session.CreateBatchQuery();
            var numbersRead = batch.LoadMany<MembershipNumberClaim>().ByIdList(elsewhere);
            var invoicesRead = batch.LoadMany<Invoicing.InvoiceNumberClaim>().ByIdList(invoicesElsewhere);
            var creditNotesRead = batch.LoadMany<Invoicing.CreditNoteNumberClaim>().ByIdList(creditNotesElsewhere);
            await batch.Execute(ct);
            (numberClaimsElsewhere, invoiceClaimsElsewhere, creditNoteClaimsElsewhere) = (await numbersRead, await invoicesRead, await creditNotesRead);
        }

        var storedNumberClaims = stored.NumberClaims.Concat(numberClaimsElsewhere).DistinctBy(c => c.Id).ToList();
        var invoiceClaims = stored.InvoiceNumberClaims.Concat(invoiceClaimsElsewhere).DistinctBy(c => c.Id).ToList();
        var creditNoteClaims = stored.CreditNoteNumberClaims.Concat(creditNoteClaimsElsewhere).DistinctBy(c => c.Id).ToList();
        var count = CompareSets(stored.Claims, stored.EmailClaims, storedNumberClaims, replayedProducts, events, differences)
                    + await CompareOverrides(session, accountId, stored.Overrides, differences, ct);
        differences.AddRange(DocumentNumberClaims.Compare(issued, invoiceClaims, creditNoteClaims));
        return count + invoiceClaims.Count + creditNoteClaims.Count;
    }

    /// <summary>Every claim row and support override of the ledger against what the events say they must be: one read each.</summary>
    private async Task<int> CompareAllSets(IQuerySession session, IReadOnlyList<ProductView> replayedProducts,
        List<ProjectionDifference> differences, CancellationToken ct)
    {
        var storedClaims = await session.Query<SerialOwnership>().ToListAsync(ct);
        var storedEmailClaims = await session.Query<Migration.OldCpsEmailClaim>().ToListAsync(ct);
        var storedNumberClaims = await session.Query<MembershipNumberClaim>().ToListAsync(ct);
        var events = await session.Events.QueryAllRawEvents().Where(e => e.EventTypesAre(SetEvents)).OrderBy(e => e.Sequence).ToListAsync(ct);
        var invoiceClaims = await session.Query<Invoicing.InvoiceNumberClaim>().ToListAsync(ct);
        var creditNoteClaims = await session.Query<Invoicing.CreditNoteNumberClaim>().ToListAsync(ct);
        // The invoices' events that issue a number or record an amount: one read for both checks.
        var invoiceEvents = await session.Events.QueryAllRawEvents().Where(e => e.EventTypesAre(InvoiceEvents)).OrderBy(e => e.Sequence).ToListAsync(ct);
        var count = CompareSets(storedClaims, storedEmailClaims, storedNumberClaims, replayedProducts, events, differences)
                    + await CompareOverrides(session, null, await StoredIds(typeof(SupportOverride), ct), differences, ct);
        differences.AddRange(DocumentNumberClaims.Compare(DocumentNumberClaims.IssuedIn(invoiceEvents), invoiceClaims, creditNoteClaims));
        differences.AddRange(RunningTotals.Compare(invoiceEvents));
        return count + invoiceClaims.Count + creditNoteClaims.Count;
    }

    // The events the invoice and credit note number claims are compared with and the running totals checked on.
    private static readonly Type[] InvoiceEvents = [.. RunningTotals.Events.Union(DocumentNumberClaims.Events)];

    // The events the old e-mail claim rows and the membership number claim rows are made of.
    private static readonly Type[] SetEvents =
        [typeof(Migration.OldCpsEmailVerified), typeof(OldCpsEmailUnlinked), .. MembershipNumberClaims.ClaimingEvents];

    private static int CompareSets(IReadOnlyList<SerialOwnership> storedClaims, IReadOnlyList<Migration.OldCpsEmailClaim> storedEmailClaims,
        IReadOnlyList<MembershipNumberClaim> storedNumberClaims, IReadOnlyList<ProductView> replayedProducts, IReadOnlyList<IEvent> events,
        List<ProjectionDifference> differences)
    {
        // Serial claims: exactly the registered products that have a serial number.
        CompareSets(nameof(SerialOwnership),
            storedClaims.ToDictionary(c => c.Id, c => $"{c.RegistrationId} {c.SerialNumber}"),
            replayedProducts.Where(p => !p.Deregistered && p.SerialNumber is not null)
                .ToDictionary(p => SerialNumbers.OwnershipKey(p.ModelCode, p.SerialNumber!), p => $"{p.Id} {SerialNumbers.Normalize(p.SerialNumber!)}"),
            differences);

        // Old CPS e-mail claims: the e-mails each account verified and has not unlinked since (events in sequence order).
        var replayedEmailClaims = new Dictionary<string, string>();
        foreach (var e in events)
        {
            if (e.Data is Migration.OldCpsEmailVerified verified)
                replayedEmailClaims[verified.Email] = EmailClaim(verified.AccountId, verified.Method, verified.VerifiedAt);
            else if (e.Data is OldCpsEmailUnlinked unlinked && replayedEmailClaims.TryGetValue(unlinked.Email, out var claim)
                     && claim.StartsWith(unlinked.AccountId.ToString(), StringComparison.Ordinal))
                replayedEmailClaims.Remove(unlinked.Email);
        }

        CompareSets(nameof(Migration.OldCpsEmailClaim), storedEmailClaims.ToDictionary(c => c.Id, c => EmailClaim(c.AccountId, c.Method, c.VerifiedAt)),
            replayedEmailClaims, differences);

        // Membership number claims: the first account to get each number (MembershipNumberClaims.FromEvents).
        var replayedNumberClaims = MembershipNumberClaims.FromEvents(events).ToDictionary(c => c.Key, c => c.Value.ToString());

        CompareSets(nameof(MembershipNumberClaim), storedNumberClaims.ToDictionary(c => c.Id, c => c.AccountId.ToString()), replayedNumberClaims,
            differences);

        return storedClaims.Count + storedEmailClaims.Count + storedNumberClaims.Count;
    }

    private static string EmailClaim(Guid accountId, Migration.OldCpsEmailVerificationMethod method, DateTimeOffset verifiedAt) =>
        $"{accountId} {method} {verifiedAt.UtcDateTime:O}";

    /// <summary>Stored document against the replay of its stream (from the events read).</summary>
    /// <param name="replayed">Given the replayed document, when there is one.</param>
    private async Task<int> Compare<T>(StreamReplay replay, Guid id, T? stored, List<ProjectionDifference> differences, CancellationToken ct,
        Action<T>? replayed = null) where T : class
    {
        var fromEvents = await replay.AggregateAsync<T>(id, ct);
        if (fromEvents is not null)
            replayed?.Invoke(fromEvents);
        if (stored is null && fromEvents is null)
            return 0;

        var name = typeof(T).Name;
        if (stored is null || fromEvents is null)
        {
            differences.Add(new ProjectionDifference(name, id.ToString(), "(document)", stored is null ? null : "present",
                fromEvents is null ? null : "present"));
            return 1;
        }

        var serializer = store.Options.Serializer();
        DiffDocuments(name, id.ToString(), serializer.ToJson(stored), serializer.ToJson(fromEvents), differences);
        return 1;
    }

    private static void CompareSets(string document, IReadOnlyDictionary<string, string> stored, IReadOnlyDictionary<string, string> replayed,
        List<ProjectionDifference> differences)
    {
        foreach (var key in stored.Keys.Union(replayed.Keys).Order(StringComparer.Ordinal))
        {
            stored.TryGetValue(key, out var s);
            replayed.TryGetValue(key, out var r);
            if (s != r)
                differences.Add(new ProjectionDifference(document, key, "(document)", s, r));
        }
    }

    /// <summary>
    /// A stored document against its replay, both as the store's serializer writes them. The same text has no differences, so
    /// only the documents that differ (none, in a ledger that agrees) are parsed and walked field by field.
    /// </summary>
    private static void DiffDocuments(string document, string id, string stored, string replayed, List<ProjectionDifference> differences)
    {
        if (!string.Equals(stored, replayed, StringComparison.Ordinal))
            Diff(document, id, "$", JsonNode.Parse(stored), JsonNode.Parse(replayed), differences);
    }

    // A value as it was written ("+14 points"), not escaped for HTML ("\u002B14 points"): the report is read by an auditor.
    private static readonly JsonSerializerOptions AsWritten = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Field-level difference of two JSON trees.</summary>
    public static void Diff(string document, string id, string path, JsonNode? stored, JsonNode? replayed, List<ProjectionDifference> differences)
    {
        switch (stored, replayed)
        {
            case (JsonObject s, JsonObject r):
                foreach (var key in s.Select(p => p.Key).Union(r.Select(p => p.Key)).Order(StringComparer.Ordinal))
                    Diff(document, id, $"{path}.{key}", s[key], r[key], differences);
                break;
            case (JsonArray s, JsonArray r):
                for (var i = 0; i < Math.Max(s.Count, r.Count); i++)
                    Diff(document, id, $"{path}[{i}]", i < s.Count ? s[i] : null, i < r.Count ? r[i] : null, differences);
                break;
            default:
                var left = stored?.ToJsonString(AsWritten);
                var right = replayed?.ToJsonString(AsWritten);
                if (left != right)
                    differences.Add(new ProjectionDifference(document, id, path, left, right));
                break;
        }
    }
}

public static class VerifyProjectionsEndpoint
{
    [WolverineGet("/api/audit/verification", OperationId = "VerifyProjections")]
    [Authorize(Roles = $"{LedgerRoles.Auditor},{LedgerRoles.Support}")]
    [EndpointSummary("Replay the events and compare with every stored projection, the documents' duplicated columns with their documents, the payment events' running totals with their amounts, and the invoice and credit note number claims with the events that issued the numbers (one account, or all); lists each difference")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<VerificationReport> Get(
        [System.ComponentModel.Description("One account: its projections and its hash chains (an id no account has is a 404). Left out: every " +
                                          "account and the reference data.")] Guid? accountId,
        Verification verification, CancellationToken ct) =>
        await verification.RunAsync(accountId, ct);

    // The account is a query parameter here (not a route value), so the account routes' policy does not cover it. An account
    // whose view is missing but whose stream exists is exactly what verification is for.
    public static async Task<ProblemDetails> ValidateAsync(Guid? accountId, IQuerySession session, CancellationToken ct) =>
        accountId is { } id && !await AccountExistsAsync(id, session, ct) ? Problems.AccountNotFound : WolverineContinue.NoProblems;

    public static async Task<bool> AccountExistsAsync(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.CheckExistsAsync<AccountView>(accountId, ct) || await session.Events.FetchStreamStateAsync(accountId, ct) is not null;
}

public sealed class VerifyInput : LedgerInput
{
    [Description("Verify only this account (default: every account and the reference data)")]
    // Long form only: -a is also NetCoreInput's --applicationname.
    [FlagAlias("account", true)]
    public Guid? AccountFlag { get; set; }

    [Description("A chain heads file exported earlier (chain-heads command): check that history was not rewritten since")]
    public string? HeadsFlag { get; set; }
}

[Description("Replays the events and compares them with every stored projection; exit code 1 when they differ", Name = "verify")]
public sealed class VerifyCommand : JasperFxAsyncCommand<VerifyInput>
{
    public override async Task<bool> Execute(VerifyInput input)
    {
        using var host = await input.BuildLedgerHostAsync();
        // What the API answers with a 404 or would fail on only after the whole run is said first: a mistyped account id
        // verified nothing ("Checked 1 account(s), 0 document(s)", exit code 0).
        var heads = input.HeadsFlag is { } given ? CommandLineFiles.Resolve(given) : null;
        if (heads is not null && !System.IO.File.Exists(heads))
        {
            await Console.Out.WriteLineAsync(CommandLineFiles.NotFound("Chain heads file", input.HeadsFlag!));
            return false;
        }

        if (input.AccountFlag is { } account)
        {
            await using var session = host.Services.GetRequiredService<IDocumentStore>().QuerySession();
            if (!await VerifyProjectionsEndpoint.AccountExistsAsync(account, session, CancellationToken.None))
            {
                await Console.Out.WriteLineAsync($"No business account has the id {account}: nothing verified.");
                return false;
            }
        }

        var report = await host.Services.GetRequiredService<Verification>().RunAsync(input.AccountFlag, CancellationToken.None);
        // The report is this command's output, not a log line.
        await Console.Out.WriteLineAsync(
            $"Checked {report.AccountsChecked} account(s), {report.DocumentsChecked} document(s): {report.Differences.Count} difference(s), " +
            $"{report.ChainBreaks.Count} hash chain break(s).");
        foreach (var d in report.Differences)
        {
            // What was compared: a column with its document, an event's running total with the sum of the amounts, a number's claim with
            // the event that issued it, or a replay.
            var (stored, replayed) = d.Field.StartsWith(DuplicatedColumns.FieldPrefix.TrimEnd(), StringComparison.Ordinal) ? ("column", "document")
                : d.Field.StartsWith(RunningTotals.FieldPrefix, StringComparison.Ordinal) ? ("event", "sum of amounts")
                : d.Field.StartsWith(DocumentNumberClaims.FieldPrefix, StringComparison.Ordinal) ? ("claim", "issuing event")
                : ("stored", "replayed");
            await Console.Out.WriteLineAsync($"  {d.Document} {d.Id} {d.Field}: {stored} {d.Stored ?? "(none)"}, {replayed} {d.Replayed ?? "(none)"}");
        }
        foreach (var b in report.ChainBreaks)
            await Console.Out.WriteLineAsync($"  chain {b.ChainId} broken at link {b.Position}: {b.Problem}" + (b.Type is null
                ? $" (event {b.EventId}, sequence {b.Sequence}: gone)"
                : $" {b.Type} recorded {b.RecordedAt:yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'} (event {b.EventId}, sequence {b.Sequence})"));

        var headBreaks = 0;
        if (heads is { } path)
        {
            var breaks = await host.Services.GetRequiredService<ChainVerification>()
                .CheckHeadsAsync(ChainVerification.ReadHeads(await File.ReadAllTextAsync(path)), CancellationToken.None);
            headBreaks = breaks.Count;
            int Counted(string problem) => breaks.Count(b => b.Problem == problem);
            await Console.Out.WriteLineAsync($"Heads in {path}: {breaks.Count} no longer in their chains ({Counted("rewritten")} rewritten, " +
                                             $"{Counted("truncated")} truncated, {Counted("missing")} missing).");
            foreach (var b in breaks)
                await Console.Out.WriteLineAsync($"  chain {b.ChainId} link {b.Position}: {b.Problem} ({HeadProblems[b.Problem]})");
        }

        return report.Agrees && headBreaks == 0;
    }

    // A restored database shows the last two of every chain that grew or began after its backup: only the first is a changed link.
    private static readonly IReadOnlyDictionary<string, string> HeadProblems = new Dictionary<string, string>
    {
        ["rewritten"] = "the link is in the chain and hashes otherwise",
        ["truncated"] = "the chain ends before this link",
        ["missing"] = "the database holds no link of this chain",
    };
}

public sealed class ChainHeadsInput : LedgerInput
{
    [Description("File to write the heads to (CSV: chain_id,position,sequence,hash)")]
    public string File { get; set; } = "";
}

[Description("Exports the head of every account's hash chain to a file, to keep outside the database", Name = "chain-heads")]
public sealed class ChainHeadsCommand : JasperFxAsyncCommand<ChainHeadsInput>
{
    public override async Task<bool> Execute(ChainHeadsInput input)
    {
        using var host = await input.BuildLedgerHostAsync();
        var heads = await host.Services.GetRequiredService<ChainVerification>().HeadsAsync(CancellationToken.None);
        var path = CommandLineFiles.Resolve(input.File);
        await System.IO.File.WriteAllTextAsync(path, ChainVerification.WriteHeads(heads));
        await Console.Out.WriteLineAsync($"Wrote {heads.Count} chain head(s) to {path}.");
        return true;
    }
}

public static class ChainHeadsEndpoint
{
    [WolverineGet("/api/audit/chain-heads", OperationId = "ExportChainHeads")]
    [Authorize(Roles = LedgerRoles.Auditor)]
    [EndpointSummary("The head of every hash chain (CSV: chain_id,position,sequence,hash), to keep outside the database")]
    [Produces("text/csv")]
    public static async Task<IResult> Get(ChainVerification chains, CancellationToken ct) =>
        Results.Text(ChainVerification.WriteHeads(await chains.HeadsAsync(ct)), "text/csv");
}
