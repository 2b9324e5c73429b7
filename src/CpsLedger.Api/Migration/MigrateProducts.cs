using System.Security.Claims;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using JasperFx;
using FluentValidation;
using Marten;
using JasperFx.Events;
using Marten.Exceptions;
using ExistingStreamIdCollisionException = Marten.Exceptions.ExistingStreamIdCollisionException;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Migration;

/// <summary>Why a product of an old CPS account did not migrate this time.</summary>
public enum NotMigratedReason
{
    /// <summary>The model and serial number are registered to another business account (a conflict; the rest still migrates).</summary>
    SerialOwnedByAnotherAccount,

    /// <summary>The catalogue has no model with this code (yet): the product stays waiting and migrates once the model is listed.</summary>
    UnknownModel,

    /// <summary>Another business account that gives the same old e-mail migrated this product first.</summary>
    MigratedToAnotherAccount,
}

/// <summary>A legacy product that did not migrate this time, and why. It stays waiting: a later migration tries it again.</summary>
/// <param name="LegacyProductId">The product's id in the imported old CPS data.</param>
/// <param name="OldEmail">The old CPS e-mail whose account holds it.</param>
/// <param name="ModelCode">The model code in the old data.</param>
/// <param name="SerialNumber">The serial number in the old data; null when it had none.</param>
/// <param name="Reason">Why it did not migrate.</param>
/// <param name="Detail">The same in words for a person.</param>
public sealed record NotMigratedProduct(Guid LegacyProductId, string OldEmail, string ModelCode, string? SerialNumber, NotMigratedReason Reason,
    string Detail);

/// <summary>A legacy product that became a registration (source "migration"), with its green tick or the details it still misses.</summary>
/// <param name="LegacyProductId">The product's id in the imported old CPS data.</param>
/// <param name="OldEmail">The old CPS e-mail whose account held it.</param>
/// <param name="Registration">The registration it became, with its green tick or what it still misses.</param>
public sealed record MigratedProduct(Guid LegacyProductId, string OldEmail, ProductRegistrationStatus Registration);

/// <summary>A legacy product the account had already registered itself: the migration linked that registration, added nothing.</summary>
/// <param name="LegacyProductId">The product's id in the imported old CPS data.</param>
/// <param name="OldEmail">The old CPS e-mail whose account held it.</param>
/// <param name="ModelCode">The model code.</param>
/// <param name="SerialNumber">The serial number; null when it had none.</param>
/// <param name="RegistrationId">The account's own registration of it.</param>
/// <param name="Url">Where that registration is read.</param>
public sealed record AlreadyRegisteredProduct(Guid LegacyProductId, string OldEmail, string ModelCode, string? SerialNumber, Guid RegistrationId,
    string Url);

/// <summary>What one migration did, and the account's migration status afterwards.</summary>
/// <param name="AlreadyMigrated">Products of the account's old accounts migrated to it by an earlier (or a concurrent) migration.</param>
/// <param name="PointsAllocated">Points this migration allocated (products with all four details).</param>
/// <param name="MembershipNumbersRecorded">Old membership numbers this migration added to the account's history.</param>
/// <param name="MembershipNumbersNotRecorded">Old membership numbers another business account holds: not added, and why.</param>
/// <param name="AccountId">The business account migrated into.</param>
/// <param name="Migrated">Products this migration registered.</param>
/// <param name="MigratedWithGreenTick">Of those, products with all four details (their points allocated).</param>
/// <param name="MigratedAwaitingDetails">Of those, products still missing a detail (no points until completed).</param>
/// <param name="AlreadyRegistered">Products the account had registered itself (linked, nothing added).</param>
/// <param name="NotMigrated">Products that did not migrate this time (they stay waiting).</param>
/// <param name="MigratedProducts">Each product this migration registered.</param>
/// <param name="AlreadyRegisteredProducts">Each product the account had registered itself.</param>
/// <param name="NotMigratedProducts">Each product that did not migrate, and why.</param>
/// <param name="Status">The account's migration status afterwards.</param>
public sealed record MigrationResult(
    Guid AccountId,
    int Migrated,
    int MigratedWithGreenTick,
    int MigratedAwaitingDetails,
    int PointsAllocated,
    int AlreadyRegistered,
    int AlreadyMigrated,
    int NotMigrated,
    IReadOnlyList<MigratedProduct> MigratedProducts,
    IReadOnlyList<AlreadyRegisteredProduct> AlreadyRegisteredProducts,
    IReadOnlyList<NotMigratedProduct> NotMigratedProducts,
    IReadOnlyList<string> MembershipNumbersRecorded,
    IReadOnlyList<MembershipNumberNotRecorded> MembershipNumbersNotRecorded,
    MigrationStatus Status);

/// <summary>One batch's decision: registrations to start, and the legacy events recording what moved where.</summary>
public sealed record MigrationBatch(
    IReadOnlyList<(Guid RegistrationId, IReadOnlyList<object> Events, ProductRegistration After)> Registrations,
    IReadOnlyList<LegacyProductMigrated> Moved,
    IReadOnlyList<NotMigratedProduct> NotMigrated);

public static class ProductMigration
{
    /// <summary>
    /// The decision for some not-yet-migrated products of one legacy account. Each becomes a registration of source
    /// "migration" with the id derived from the legacy product (so that no second attempt can create another), decided like a
    /// member's registration: points at once when all four details are there. A model the catalogue withdrew still migrates
    /// (old products are often discontinued; the catalogue keeps withdrawn models and their points for exactly this); an
    /// unknown model waits. A serial registered to this account already is linked, one registered to another account is a
    /// conflict.
    /// </summary>
    public static MigrationBatch Decide(Guid accountId, LegacyAccountView legacy, IReadOnlyList<LegacyProduct> pending,
        IReadOnlyDictionary<Guid, ProductModelView> models, IReadOnlyDictionary<string, SerialOwnership> owners, DateTimeOffset now)
    {
        var registrations = new List<(Guid, IReadOnlyList<object>, ProductRegistration)>();
        var moved = new List<LegacyProductMigrated>();
        var notMigrated = new List<NotMigratedProduct>();
        var claimed = new Dictionary<string, Guid>();

        foreach (var product in pending)
        {
            if (models.GetValueOrDefault(ProductModelCode.StreamIdFor(product.ModelCode)) is not { } model)
            {
                notMigrated.Add(Waiting(product, NotMigratedReason.UnknownModel,
                    $"The catalogue has no model \"{product.ModelCode}\"; the product migrates once the model is listed."));
                continue;
            }

            var key = product.SerialNumber is { } serial ? SerialNumbers.OwnershipKey(product.ModelCode, serial) : null;
            if (key is not null && owners.TryGetValue(key, out var owner))
            {
                if (owner.AccountId == accountId)
                    moved.Add(new LegacyProductMigrated(legacy.Id, product.Id, accountId, owner.RegistrationId, true, now));
                else
                    notMigrated.Add(Waiting(product, NotMigratedReason.SerialOwnedByAnotherAccount,
                        $"{model.Code} serial number {product.SerialNumber} is registered to another business account. If this account " +
                        "owns the product, ask the other owner to deregister it, or contact CPS support."));
                continue;
            }

            if (key is not null && claimed.TryGetValue(key, out var claimedBy))
            {
                moved.Add(new LegacyProductMigrated(legacy.Id, product.Id, accountId, claimedBy, true, now));
                continue;
            }

            var registrationId = LegacyIds.RegistrationFor(product.Id);
            var command = new RegisterProduct(model.Code, product.SerialNumber, product.PurchaseDate, product.CountryOfPurchase, product.Dealer, null);
            var decision = RegisterProductEndpoint.Decide(registrationId, accountId, command, model, RegistrationSource.Migration, now);
            registrations.Add((registrationId, decision.Events, decision.After));
            moved.Add(new LegacyProductMigrated(legacy.Id, product.Id, accountId, registrationId, false, now));
            if (key is not null)
                claimed[key] = registrationId;
        }

        return new MigrationBatch(registrations, moved, notMigrated);

        NotMigratedProduct Waiting(LegacyProduct p, NotMigratedReason reason, string detail) =>
            new(p.Id, legacy.OldEmail, p.ModelCode, p.SerialNumber, reason, detail);
    }
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): smaller
/// batches, a step after each committed batch, so that a test can make a migration fail midway as a crash would, and a step between a
/// batch's read and its commit (with Wolverine's attempt number), so that a test can make the commit lose a race.
/// </summary>
public sealed class MigrationTestSeam
{
    internal int? BatchSize { get; set; }

    internal Func<int, Task>? AfterBatchCommitted { get; set; }

    internal Func<int, Task>? BeforeBatchCommits { get; set; }

    /// <summary>The same between the read of who holds the old membership numbers and the commit that records them.</summary>
    internal Func<int, Task>? BeforeNumbersCommit { get; set; }
}

/// <summary>Old membership numbers to add to an account's history (those it has already are skipped).</summary>
/// <param name="Support">Support's reason and ticket when support migrates on the member's behalf: on every event this step writes.</param>
public sealed record RecordLegacyMembershipNumbers(Guid AccountId, IReadOnlyList<OldMembershipNumber> Numbers, Support.ReasonAndTicket? Support = null);

public sealed record OldMembershipNumber(string OldEmail, string MembershipNumber);

/// <summary>
/// An old membership number that another business account already holds (issued to it, or carried over from another old
/// account), so it is not added to this account's history: a number is one account's. The products still migrate.
/// </summary>
/// <param name="OldEmail">The old CPS e-mail whose account had the number.</param>
/// <param name="MembershipNumber">The old membership number.</param>
/// <param name="Detail">Why it was not recorded, in words for a person.</param>
public sealed record MembershipNumberNotRecorded(string OldEmail, string MembershipNumber, string Detail);

/// <summary>The numbers <see cref="RecordLegacyMembershipNumbers"/> added, and those another account holds.</summary>
public sealed record RecordedMembershipNumbers(IReadOnlyList<string> Numbers, IReadOnlyList<MembershipNumberNotRecorded> NotRecorded);

/// <summary>
/// What recording old membership numbers decides on: the account's old e-mails, read after the rows of the old accounts the
/// numbers come from were locked, and the numbers other accounts hold, by number.
/// </summary>
public sealed record MembershipNumberReads(IReadOnlyCollection<string> OldEmails, IReadOnlyDictionary<string, Guid> Holders);

/// <summary>The claim rows of the old membership numbers a migration records (a Marten side effect of its handler).</summary>
public sealed record ClaimMembershipNumbers(Guid AccountId, IReadOnlyList<string> Numbers) : IMartenOp
{
    public void Execute(IDocumentSession session)
    {
        // In the old accounts' order, not sorted: two accounts recording the same two old numbers in opposite orders at once could
        // deadlock on the claims, but that needs two old accounts sharing two numbers migrated in the same second, and the victim
        // is retried (a transient fault) and finds the numbers held, the answer a lost race gets (ARCHITECTURE.md, "Lock order
        // across accounts").
        foreach (var number in Numbers)
            session.Insert(new MembershipNumberClaim { Id = number, AccountId = AccountId });
    }
}

/// <summary>
/// Migrate the next products of one legacy account (at most <paramref name="BatchSize"/>) in one transaction, skipping those this
/// migration already found <paramref name="Waiting"/>.
/// </summary>
/// <param name="Support">Support's reason and ticket when support migrates on the member's behalf: on every event this batch writes.</param>
public sealed record MigrateProductBatch(Guid AccountId, Guid LegacyAccountId, string OldEmail, int BatchSize, IReadOnlyCollection<Guid> Waiting,
    Support.ReasonAndTicket? Support = null);

/// <summary>
/// A migration is a request without a body from a member or the portal. Support migrating on the member's behalf sends this one:
/// why, and which ticket (required from support, refused from anyone else).
/// </summary>
/// <param name="SupportReason">Support only, and required from support: why it migrates on the member's behalf. Recorded on every
/// event the migration writes and listed among the support overrides.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record MigrateProducts([property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class MigrateProductsValidator : AbstractValidator<MigrateProducts>
{
    public MigrateProductsValidator()
    {
        // Whether they are required or refused depends on the caller: MigrateProductsEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>What one committed batch did; <see cref="Done"/> when nothing was left to try.</summary>
public sealed record MigrationBatchOutcome(
    bool Done,
    IReadOnlyList<MigratedProduct> Migrated,
    IReadOnlyList<AlreadyRegisteredProduct> AlreadyRegistered,
    IReadOnlyList<NotMigratedProduct> NotMigrated)
{
    public static MigrationBatchOutcome Finished { get; } = new(true, [], [], []);
}

/// <summary>The catalogue models and serial claims of a batch's products, read after its streams.</summary>
public sealed record MigrationBatchInputs(
    IReadOnlyList<LegacyProduct> Pending,
    IReadOnlyDictionary<Guid, ProductModelView> Models,
    IReadOnlyDictionary<string, SerialOwnership> Owners);

public static class MigrateProductsEndpoint
{
    public const int DefaultBatchSize = 200;

    // Before the old accounts are read: support's reason and ticket, carried into each step (no body: a member's or the portal's call).
    public static ProblemDetails Before(MigrateProducts? command, ClaimsPrincipal user) =>
        Support.SupportReason.Check(user, command?.SupportReason, command?.TicketReference, "supportReason");

    // The account and the old accounts of its verified e-mails: nothing moves from an e-mail the account has not proved it owns.
    public static async Task<MigrationRead> LoadAsync(Guid accountId, IQuerySession query, TimeProvider clock, CancellationToken ct) =>
        await MigrationStatusEndpoint.ReadAsync(query, accountId, clock.GetUtcNow(), ct) ?? throw new AccountNotFoundException(accountId);

    public static ProblemDetails Validate(MigrationRead before)
    {
        if (before.Status.Reason is not (MigrationUnavailableReason.NoOldEmail or MigrationUnavailableReason.NoLegacyAccount
            or MigrationUnavailableReason.OldEmailUnverified or MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount))
            return WolverineContinue.NoProblems;

        var problem = Problems.Conflict(before.Status.Reason switch
        {
            MigrationUnavailableReason.OldEmailUnverified => "Old CPS e-mail not verified",
            MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount => "Old CPS e-mail verified by another account",
            _ => "Nothing to migrate",
        }, before.Status.Explanation);
        problem.Extensions["reason"] = before.Status.Reason switch
        {
            MigrationUnavailableReason.NoOldEmail => "no_old_email",
            MigrationUnavailableReason.NoLegacyAccount => "no_legacy_account",
            MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount => "old_email_verified_by_another_account",
            _ => "old_email_unverified",
        };
        return problem;
    }

    /// <summary>
    /// The membership numbers, then each legacy account batch by batch: every step is a message invoked inline through Wolverine,
    /// one transaction each, retried from a fresh read when it loses a race (the handlers' <c>Configure</c>). What committed
    /// stays when a later step fails; migrating again continues from there.
    /// </summary>
    [WolverinePost("/api/accounts/{accountId}/migration", OperationId = "MigrateProducts")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("MIGRATE PRODUCTS: move every not-yet-migrated product of the account's old CPS accounts into it; support also gives supportReason and ticketReference")]
    [EndpointDescription("Idempotent: running it again, after a failure midway, or twice at once never duplicates a product or its " +
                         "points. Products whose serial is registered to another account are reported and the rest still migrates. " +
                         "The old membership numbers join the account's history. A member or the portal sends no body; support sends " +
                         "supportReason and ticketReference, recorded on every event the migration writes.")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<MigrationResult> Post(Guid accountId, [FromBody] MigrateProducts? command, [NotBody] MigrationRead before, IMessageBus bus,
        IQuerySession query, TimeProvider clock, ILoggerFactory loggers, MigrationTestSeam seam, CancellationToken ct)
    {
        var logger = loggers.CreateLogger(typeof(MigrateProductsEndpoint));
        // Only support's request carries them (Before); each step records them on the events it writes.
        var support = Support.SupportReason.Given(command?.SupportReason, command?.TicketReference);
        var recorded = await bus.InvokeAsync<RecordedMembershipNumbers>(new RecordLegacyMembershipNumbers(accountId,
            [.. before.LegacyAccounts.Select(l => new OldMembershipNumber(l.OldEmail, l.OldMembershipNumber))], support), ActorRoles.Inline(bus), ct);

        var tally = new MigrationTally(accountId);
        var batchSize = seam.BatchSize ?? DefaultBatchSize;
        foreach (var legacy in before.LegacyAccounts)
        {
            while (await bus.InvokeAsync<MigrationBatchOutcome>(
                       new MigrateProductBatch(accountId, legacy.Id, legacy.OldEmail, batchSize, tally.WaitingIds, support), ActorRoles.Inline(bus), ct)
                   is { Done: false } batch)
            {
                var number = tally.Add(batch);
                logger.LogInformation("Migration batch {Batch} of account {AccountId}: {Migrated} migrated, {Linked} already registered, {Waiting} waiting",
                    number, accountId, batch.Migrated.Count, batch.AlreadyRegistered.Count, batch.NotMigrated.Count);
                if (batch.Migrated.Count + batch.AlreadyRegistered.Count > 0 && seam.AfterBatchCommitted is { } afterBatch)
                    await afterBatch(number);
            }
        }

        var after = await MigrationStatusEndpoint.ReadAsync(query, accountId, clock.GetUtcNow(), ct)
                    ?? throw new AccountNotFoundException(accountId);
        return tally.Result(after, recorded);
    }

    // Retries ran out while other writers kept winning (or a registration id was taken by a stream that is not this
    // migration's). What committed stays; migrating again continues from there.
    public static ProblemDetails OnException(ExistingStreamIdCollisionException _) => Problems.Conflict("Concurrent change",
        "The account's products changed while they were being migrated. Migrate again: nothing is duplicated.");

    /// <summary>What the batches of one migration call did, in the order they committed.</summary>
    private sealed class MigrationTally(Guid accountId)
    {
        private readonly List<MigratedProduct> _migrated = [];
        private readonly List<AlreadyRegisteredProduct> _linked = [];
        private readonly Dictionary<Guid, NotMigratedProduct> _notMigrated = [];
        private int _batches;

        /// <summary>Products found waiting by this call: the next batches skip them (a later call tries them again).</summary>
        public IReadOnlyCollection<Guid> WaitingIds => [.. _notMigrated.Keys];

        public int Add(MigrationBatchOutcome batch)
        {
            _migrated.AddRange(batch.Migrated);
            _linked.AddRange(batch.AlreadyRegistered);
            foreach (var waiting in batch.NotMigrated)
                _notMigrated[waiting.LegacyProductId] = waiting;
            return ++_batches;
        }

        public MigrationResult Result(MigrationRead after, RecordedMembershipNumbers recorded)
        {
            var mine = _migrated.Select(m => m.LegacyProductId).Concat(_linked.Select(l => l.LegacyProductId)).ToHashSet();
            var products = after.LegacyAccounts.SelectMany(l => l.Products.Select(p => (Legacy: l, Product: p))).ToList();
            var alreadyMigrated = products.Count(x => x.Product.MigratedToAccountId == accountId && !mine.Contains(x.Product.Id));
            var notMigrated = _notMigrated.Values
                .Concat(products
                    .Where(x => x.Product.MigratedToAccountId is { } other && other != accountId)
                    .Select(x => new NotMigratedProduct(x.Product.Id, x.Legacy.OldEmail, x.Product.ModelCode, x.Product.SerialNumber,
                        NotMigratedReason.MigratedToAnotherAccount,
                        "Another business account that gives the same old e-mail migrated this product first. Contact CPS support.")))
                .ToList();
            var migrated = _migrated.OrderBy(m => m.OldEmail).ThenBy(m => m.Registration.ModelCode).ThenBy(m => m.Registration.SerialNumber).ToList();
            return new MigrationResult(
                accountId,
                migrated.Count,
                migrated.Count(m => m.Registration.GreenTick),
                migrated.Count(m => !m.Registration.GreenTick),
                migrated.Sum(m => m.Registration.Points),
                _linked.Count,
                alreadyMigrated,
                notMigrated.Count,
                migrated,
                _linked,
                notMigrated,
                recorded.Numbers,
                recorded.NotRecorded,
                after.Status);
        }
    }
}

/// <summary>
/// A migration step that lost a race (another migration, registration or link committed first) is retried by Wolverine from a
/// fresh read: the loser then finds the products moved or the serial owned. After six attempts the exception reaches the
/// endpoint, which answers 409.
/// </summary>
public static class MigrationRetries
{
    public static void Apply(HandlerChain chain)
    {
        chain.OnException(IsRace, "a race another writer won")
            .RetryWithCooldown(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(30),
                TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(50))
            .WithFullJitter();
        // A lost race is expected and answered; only running out of attempts is an error (the endpoint's 409).
        chain.FailureLogLevel = LogLevel.Information;
    }

    /// <summary>Whether a failed commit lost a race that a fresh read resolves (another migration, registration or link won).</summary>
    public static bool IsRace(Exception e) => e switch
    {
        ConcurrencyException or ExistingStreamIdCollisionException => true,
        DocumentAlreadyExistsException d => d.DocType == typeof(SerialOwnership) || d.DocType == typeof(MembershipNumberClaim),
        AggregateException a => a.Flatten().InnerExceptions.All(IsRace),
        _ => false,
    };
}

/// <summary>
/// Adds the old membership numbers to the account's history, on the membership stream, and claims each in the same transaction
/// (<see cref="MembershipNumberClaim"/>), so the issuer never hands one to another account. A number another account holds is
/// not added: it is reported, and the migration goes on. Two accounts recording one number at once: the second claim's insert
/// fails, and the retry from a fresh read finds the number held. Only numbers of old e-mails the account still gives, read under
/// the old e-mails' locks that an unlink takes too.
/// </summary>
[InvokedForCaller]
public static class RecordLegacyMembershipNumbersHandler
{
    public static void Configure(HandlerChain chain) => MigrationRetries.Apply(chain);

    public static Guid MembershipStreamId(RecordLegacyMembershipNumbers command) => MembershipStream.For(command.AccountId);

    public static void Before(RecordLegacyMembershipNumbers command, IDocumentSession session) => command.Support?.Record(session);

    // The locks of the old e-mails the numbers come from first (OldEmailLock, held to the commit), and the account's old e-mails
    // read after them: an unlink of one of those e-mails takes its lock before it reads, so the two decide one after the other. An
    // unlink that committed first leaves its number out; one that waited reads the number carried over and is refused (409). Then
    // the account's invitation review (InvitationReviewLock), and then the membership's row (the handler's aggregate), as before: this
    // step appends to the membership stream under that row's lock whether or not a membership is in force, and a review batch
    // appending an invitation there optimistically inserted its event first and then waited for the row, while this step's own
    // event waited for that insert (a deadlock, "Invoicing: streams"). Under the review's lock the two take turns.
    public static async Task<MembershipNumberReads> LoadAsync(RecordLegacyMembershipNumbers command, IDocumentSession session,
        Envelope envelope, MigrationTestSeam seam, CancellationToken ct)
    {
        await OldEmailLock.TakeAsync(session, command.Numbers.Select(n => LegacyIds.AccountFor(n.OldEmail)), ct);
        await InvitationReviewLock.TakeAsync(session, command.AccountId, ct);
        var account = await session.Events.AggregateStreamAsync<BusinessAccount>(command.AccountId, token: ct);
        var holders = await MembershipNumberClaims.HeldByOtherAccountsAsync(session, command.AccountId,
            [.. command.Numbers.Select(n => n.MembershipNumber).Distinct()], ct);
        if (seam.BeforeNumbersCommit is { } beforeCommit)
            await beforeCommit(envelope.Attempts);
        return new MembershipNumberReads(account?.OldCpsEmails ?? [], holders);
    }

    public static (RecordedMembershipNumbers, Events, ClaimMembershipNumbers) Handle(RecordLegacyMembershipNumbers command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = Wolverine.Marten.ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        MembershipNumberReads reads, TimeProvider clock)
    {
        var (recorded, notRecorded) = Decide(command, membership?.MembershipNumbers ?? [], reads, clock.GetUtcNow());
        return (new RecordedMembershipNumbers([.. recorded.Select(r => r.MembershipNumber)], notRecorded), [.. recorded],
            new ClaimMembershipNumbers(command.AccountId, [.. recorded.Select(r => r.MembershipNumber)]));
    }

    /// <summary>
    /// Each old number once: skipped when the account has it already, refused when another account holds it. A number of an old
    /// e-mail the account no longer gives (unlinked since the migration started) is left out, as a batch moves nothing from it.
    /// </summary>
    public static (IReadOnlyList<LegacyMembershipNumberRecorded> Recorded, IReadOnlyList<MembershipNumberNotRecorded> NotRecorded) Decide(
        RecordLegacyMembershipNumbers command, IReadOnlyList<string> known, MembershipNumberReads reads, DateTimeOffset now)
    {
        var added = command.Numbers.Where(n => reads.OldEmails.Contains(n.OldEmail) && !known.Contains(n.MembershipNumber))
            .DistinctBy(n => n.MembershipNumber).ToList();
        var recorded = added.Where(n => !reads.Holders.ContainsKey(n.MembershipNumber))
            .Select(n => new LegacyMembershipNumberRecorded(command.AccountId, n.OldEmail, n.MembershipNumber, now))
            .ToList();
        var notRecorded = added.Where(n => reads.Holders.ContainsKey(n.MembershipNumber))
            .Select(n => new MembershipNumberNotRecorded(n.OldEmail, n.MembershipNumber, HeldByAnotherAccount(n.MembershipNumber)))
            .ToList();
        return (recorded, notRecorded);
    }

    /// <summary>Why an old number is not carried over (without naming the holder, as a serial conflict does not).</summary>
    public static string HeldByAnotherAccount(string number) =>
        $"Membership number {number} is held by another business account, so it is not added to this account's history; the " +
        "products still migrate. If the number is this account's, contact CPS support.";
}

/// <summary>
/// One migration batch in one transaction: the old e-mail's lock is taken first, then the legacy account's row (an unlink of the old
/// e-mail, or another migration of it, waits for this batch or this batch for it), the business account is read after them to see
/// the e-mail is still linked, and the registrations start under ids derived from the legacy products (a second attempt collides instead of
/// duplicating).
/// </summary>
[InvokedForCaller]
public static class MigrateProductBatchHandler
{
    public static void Configure(HandlerChain chain) => MigrationRetries.Apply(chain);

    // Before the streams are read: the old e-mail's lock, which an unlink of it takes first too, also while it has no old account.
    public static async Task Before(MigrateProductBatch command, IDocumentSession session, CancellationToken ct)
    {
        command.Support?.Record(session);
        await OldEmailLock.TakeAsync(session, [command.LegacyAccountId], ct);
    }

    /// <summary>The products this batch tries: not migrated, not found waiting earlier in this call, in file order.</summary>
    public static IReadOnlyList<LegacyProduct> Pending(MigrateProductBatch command, LegacyAccountView? legacy) =>
        legacy?.Products.Where(p => p.MigratedToAccountId is null && !command.Waiting.Contains(p.Id)).Take(command.BatchSize).ToList() ?? [];

    public static async Task<MigrationBatchInputs> LoadAsync(MigrateProductBatch command, IEventStream<LegacyAccountView> legacy,
        IQuerySession session, Envelope envelope, MigrationTestSeam seam, CancellationToken ct)
    {
        var pending = Pending(command, legacy.Aggregate);
        if (pending.Count == 0)
            return new MigrationBatchInputs(pending, new Dictionary<Guid, ProductModelView>(), new Dictionary<string, SerialOwnership>());

        var batch = session.CreateBatchQuery();
        var models = batch.LoadMany<ProductModelView>().ById(pending.Select(p => ProductModelCode.StreamIdFor(p.ModelCode)).Distinct().ToArray());
        var owners = batch.LoadMany<SerialOwnership>().ById(pending.Where(p => p.SerialNumber is not null)
            .Select(p => SerialNumbers.OwnershipKey(p.ModelCode, p.SerialNumber!)).Distinct().ToArray());
        await batch.Execute(ct);
        if (seam.BeforeBatchCommits is { } beforeCommit)
            await beforeCommit(envelope.Attempts);
        return new MigrationBatchInputs(pending, (await models).ToDictionary(m => m.Id), (await owners).ToDictionary(o => o.Id));
    }

    // The old e-mail's lock (Before), the old account's row (for update, held to the commit), then the account: an unlink of the
    // e-mail takes the same lock before it reads, so the two decide one after the other and the second reads what the first
    // committed. The account's version is still checked at commit, a plain read that catches a change committed before the commit
    // (not one still in flight).
    public static (MigrationBatchOutcome, StartRegistrations) Handle(MigrateProductBatch command,
        [WriteAggregate(nameof(MigrateProductBatch.LegacyAccountId), Required = false, LoadStyle = Wolverine.Marten.ConcurrencyStyle.Exclusive)] IEventStream<LegacyAccountView> legacy,
        [WriteAggregate(nameof(MigrateProductBatch.AccountId), Required = false, AlwaysEnforceConsistency = true)] IEventStream<BusinessAccount> account,
        MigrationBatchInputs inputs, TimeProvider clock)
    {
        // The account's old e-mails as of this transaction: an unlink since the migration started ends it.
        if (account.Aggregate is not { } business || !business.OldCpsEmails.Contains(command.OldEmail) || legacy.Aggregate is not { } view
            || inputs.Pending.Count == 0)
            return (MigrationBatchOutcome.Finished, new StartRegistrations([]));

        var batch = ProductMigration.Decide(command.AccountId, view, inputs.Pending, inputs.Models, inputs.Owners, clock.GetUtcNow());
        legacy.AppendMany(batch.Moved);

        var registrations = batch.Registrations.ToDictionary(r => r.RegistrationId, r => r.After);
        var migrated = new List<MigratedProduct>();
        var linked = new List<AlreadyRegisteredProduct>();
        foreach (var moved in batch.Moved)
        {
            var product = inputs.Pending.First(p => p.Id == moved.LegacyProductId);
            if (registrations.TryGetValue(moved.RegistrationId, out var after) && !moved.WasAlreadyRegistered)
                migrated.Add(new MigratedProduct(product.Id, command.OldEmail, ProductRegistrationStatus.Of(after)));
            else
                linked.Add(new AlreadyRegisteredProduct(product.Id, command.OldEmail, product.ModelCode, product.SerialNumber, moved.RegistrationId,
                    $"/api/accounts/{command.AccountId}/products/{moved.RegistrationId}"));
        }

        return (new MigrationBatchOutcome(false, migrated, linked, batch.NotMigrated),
            new StartRegistrations([.. batch.Registrations.Select(r => (r.RegistrationId, r.Events))]));
    }
}

/// <summary>The registration streams a migration batch starts (a Marten side effect of its handler).</summary>
public sealed record StartRegistrations(IReadOnlyList<(Guid RegistrationId, IReadOnlyList<object> Events)> Registrations) : IMartenOp
{
    public void Execute(IDocumentSession session)
    {
        // One account's chain, and the serial claims in the old file's order: two batches of two accounts whose old accounts list
        // the same two serials in opposite orders could deadlock on the claims, rare enough (the same products recorded twice and
        // migrated in the same second) to leave to the retry, which then finds the serial owned (ARCHITECTURE.md, "Lock order
        // across accounts").
        foreach (var (registrationId, events) in Registrations)
            session.Events.StartStream<ProductRegistration>(registrationId, [.. events]);
    }
}
