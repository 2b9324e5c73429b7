using CpsLedger.Api.Accounts;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using JasperFx;
using Marten;
using Marten.Exceptions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten.Publishing;
using Wolverine.Runtime;

namespace CpsLedger.Api.Migration;

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
public sealed record NotMigratedProduct(Guid LegacyProductId, string OldEmail, string ModelCode, string? SerialNumber, NotMigratedReason Reason,
    string Detail);

/// <summary>A legacy product that became a registration (source "migration"), with its green tick or the details it still misses.</summary>
public sealed record MigratedProduct(Guid LegacyProductId, string OldEmail, ProductRegistrationStatus Registration);

/// <summary>A legacy product the account had already registered itself: the migration linked that registration, added nothing.</summary>
public sealed record AlreadyRegisteredProduct(Guid LegacyProductId, string OldEmail, string ModelCode, string? SerialNumber, Guid RegistrationId,
    string Url);

/// <summary>What one migration did, and the account's migration status afterwards.</summary>
/// <param name="AlreadyMigrated">Products of the account's old accounts migrated to it by an earlier (or a concurrent) migration.</param>
/// <param name="PointsAllocated">Points this migration allocated (products with all four details).</param>
/// <param name="MembershipNumbersRecorded">Old membership numbers this migration added to the account's history.</param>
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
/// Test seam (tests reach it through InternalsVisibleTo; nothing else sets it): smaller batches, and a step after each committed
/// batch, so that a test can make a migration fail midway as a crash would.
/// </summary>
internal static class MigrationTestSeam
{
    internal static int? BatchSize { get; set; }

    internal static Func<int, Task>? AfterBatchCommitted { get; set; }
}

public static class MigrateProductsEndpoint
{
    public const int DefaultBatchSize = 200;
    private const int MaxAttempts = 6;

    [WolverinePost("/api/accounts/{accountId}/migration", OperationId = "MigrateProducts")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("MIGRATE PRODUCTS: move every not-yet-migrated product of the account's old CPS accounts into it")]
    [EndpointDescription("Idempotent: running it again, after a failure midway, or twice at once never duplicates a product or its " +
                         "points. Products whose serial is registered to another account are reported and the rest still migrates. " +
                         "The old membership numbers join the account's history.")]
    [ProducesResponseType<MigrationResult>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Post(Guid accountId, IQuerySession query, OutboxedSessionFactory sessions, IMessageBus bus,
        TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        var before = await MigrationStatusEndpoint.ReadAsync(query, accountId, clock.GetUtcNow(), ct);
        if (before is null)
            return Results.Problem(Problems.AccountNotFound);
        if (before.Status.Reason is MigrationUnavailableReason.NoOldEmail or MigrationUnavailableReason.NoLegacyAccount
            or MigrationUnavailableReason.OldEmailUnverified)
        {
            var problem = Problems.Conflict(
                before.Status.Reason == MigrationUnavailableReason.OldEmailUnverified ? "Old CPS e-mail not verified" : "Nothing to migrate",
                before.Status.Explanation);
            problem.Extensions["reason"] = before.Status.Reason switch
            {
                MigrationUnavailableReason.NoOldEmail => "no_old_email",
                MigrationUnavailableReason.NoLegacyAccount => "no_legacy_account",
                _ => "old_email_unverified",
            };
            return Results.Problem(problem);
        }

        // Only the old accounts of verified e-mails were read: nothing moves from an e-mail the account has not proved it owns.

        var run = new MigrationRun(accountId, sessions, (MessageContext)bus, clock, loggers.CreateLogger(typeof(MigrateProductsEndpoint)),
            MigrationTestSeam.BatchSize ?? DefaultBatchSize);
        var recorded = await run.RecordMembershipNumbersAsync(before.LegacyAccounts, ct);
        foreach (var legacy in before.LegacyAccounts)
            await run.MigrateAsync(legacy.Id, legacy.OldEmail, ct);

        var after = await MigrationStatusEndpoint.ReadAsync(query, accountId, clock.GetUtcNow(), ct);
        return Results.Ok(run.Result(after!, recorded));
    }

    // Retries ran out while other writers kept winning (or a registration id was taken by a stream that is not this
    // migration's). What committed stays; migrating again continues from there.
    public static ProblemDetails OnException(ExistingStreamIdCollisionException _) => Problems.Conflict("Concurrent change",
        "The account's products changed while they were being migrated. Migrate again: nothing is duplicated.");

    /// <summary>Whether a failed commit lost a race that a fresh read resolves (another migration, registration or link won).</summary>
    internal static bool IsRace(Exception e) => e switch
    {
        ConcurrencyException or ExistingStreamIdCollisionException => true,
        DocumentAlreadyExistsException d => d.DocType == typeof(SerialOwnership),
        AggregateException a => a.Flatten().InnerExceptions.All(IsRace),
        _ => false,
    };

    /// <summary>One migration call: its batches, each one transaction, and what they did (recorded only once committed).</summary>
    private sealed class MigrationRun(Guid accountId, OutboxedSessionFactory sessions, MessageContext context, TimeProvider clock, ILogger logger,
        int batchSize)
    {
        private readonly List<MigratedProduct> _migrated = [];
        private readonly List<AlreadyRegisteredProduct> _linked = [];
        private readonly Dictionary<Guid, NotMigratedProduct> _notMigrated = [];
        private int _batches;

        public async Task<IReadOnlyList<string>> RecordMembershipNumbersAsync(IReadOnlyList<LegacyAccountView> legacyAccounts, CancellationToken ct) =>
            await WithRetriesAsync(async () =>
            {
                await using var session = sessions.OpenSession(context);
                var stream = await session.Events.FetchForWriting<AccountMembership>(MembershipStream.For(accountId), ct);
                var known = stream.Aggregate?.MembershipNumbers ?? [];
                var now = clock.GetUtcNow();
                var recorded = legacyAccounts
                    .Where(l => !known.Contains(l.OldMembershipNumber))
                    .DistinctBy(l => l.OldMembershipNumber)
                    .Select(l => new LegacyMembershipNumberRecorded(accountId, l.OldEmail, l.OldMembershipNumber, now))
                    .ToList();
                if (recorded.Count == 0)
                    return [];
                stream.AppendMany(recorded);
                await session.SaveChangesAsync(ct);
                return recorded.Select(r => r.MembershipNumber).ToList();
            }, ct);

        public async Task MigrateAsync(Guid legacyAccountId, string oldEmail, CancellationToken ct)
        {
            while (await WithRetriesAsync(() => MigrateBatchAsync(legacyAccountId, oldEmail, ct), ct))
            {
            }
        }

        /// <summary>One batch in one transaction; false when nothing is left to try.</summary>
        private async Task<bool> MigrateBatchAsync(Guid legacyAccountId, string oldEmail, CancellationToken ct)
        {
            await using var session = sessions.OpenSession(context);

            // The account's old e-mails, as of this transaction: an unlink committing meanwhile makes this batch fail.
            var account = await session.Events.FetchForWriting<BusinessAccount>(accountId, ct);
            account.AlwaysEnforceConsistency = true;
            if (account.Aggregate is not { } business || !business.OldCpsEmails.Contains(oldEmail))
                return false;

            // Two migrations of one legacy account race on its version: the loser retries and finds the products moved.
            var legacy = await session.Events.FetchForWriting<LegacyAccountView>(legacyAccountId, ct);
            if (legacy.Aggregate is not { } view)
                return false;
            var pending = view.Products.Where(p => p.MigratedToAccountId is null && !_notMigrated.ContainsKey(p.Id)).Take(batchSize).ToList();
            if (pending.Count == 0)
                return false;

            var models = await session.LoadManyAsync<ProductModelView>(ct, pending.Select(p => ProductModelCode.StreamIdFor(p.ModelCode)).Distinct());
            var owners = await session.LoadManyAsync<SerialOwnership>(ct,
                pending.Where(p => p.SerialNumber is not null).Select(p => SerialNumbers.OwnershipKey(p.ModelCode, p.SerialNumber!)).Distinct().ToArray());
            var batch = ProductMigration.Decide(accountId, view, pending, models.ToDictionary(m => m.Id), owners.ToDictionary(o => o.Id),
                clock.GetUtcNow());

            foreach (var (registrationId, events, _) in batch.Registrations)
                session.Events.StartStream<ProductRegistration>(registrationId, [.. events]);
            if (batch.Moved.Count > 0)
            {
                legacy.AppendMany(batch.Moved);
                await session.SaveChangesAsync(ct);
                // Points events were handed to the outbox in this transaction (the invitation review); send them now.
                await context.FlushOutgoingMessagesAsync();
            }

            var registrations = batch.Registrations.ToDictionary(r => r.RegistrationId, r => r.After);
            foreach (var moved in batch.Moved)
            {
                var product = pending.First(p => p.Id == moved.LegacyProductId);
                if (registrations.TryGetValue(moved.RegistrationId, out var after) && !moved.WasAlreadyRegistered)
                {
                    _migrated.Add(new MigratedProduct(product.Id, oldEmail, ProductRegistrationStatus.Of(after)));
                }
                else
                {
                    _linked.Add(new AlreadyRegisteredProduct(product.Id, oldEmail, product.ModelCode, product.SerialNumber, moved.RegistrationId,
                        $"/api/accounts/{accountId}/products/{moved.RegistrationId}"));
                }
            }

            foreach (var waiting in batch.NotMigrated)
                _notMigrated[waiting.LegacyProductId] = waiting;

            _batches++;
            logger.LogInformation("Migration batch {Batch} of account {AccountId}: {Migrated} migrated, {Linked} already registered, {Waiting} waiting",
                _batches, accountId, batch.Registrations.Count, batch.Moved.Count - batch.Registrations.Count, batch.NotMigrated.Count);
            if (batch.Moved.Count > 0 && MigrationTestSeam.AfterBatchCommitted is { } afterBatch)
                await afterBatch(_batches);
            return true;
        }

        private async Task<T> WithRetriesAsync<T>(Func<Task<T>> attempt, CancellationToken ct)
        {
            for (var i = 1; ; i++)
            {
                try
                {
                    return await attempt();
                }
                catch (Exception e) when (i < MaxAttempts && IsRace(e))
                {
                    logger.LogInformation("Migration of account {AccountId} lost a race ({Exception}); reading again (attempt {Attempt})",
                        accountId, e.GetType().Name, i + 1);
                    await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 25) * i), ct);
                }
            }
        }

        public MigrationResult Result(MigrationRead after, IReadOnlyList<string> recorded)
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
                recorded,
                after.Status);
        }
    }
}
