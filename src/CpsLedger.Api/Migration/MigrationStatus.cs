using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Migration;

/// <summary>Why the portal shows no MIGRATE PRODUCTS button.</summary>
public enum MigrationUnavailableReason
{
    /// <summary>The account gives no old CPS e-mail: re-register the products, or ask support to link the old e-mail.</summary>
    NoOldEmail,

    /// <summary>No imported old CPS account has any of the account's old e-mails.</summary>
    NoLegacyAccount,

    /// <summary>Every product (and membership number) of the matching old accounts has been migrated.</summary>
    EverythingMigrated,

    /// <summary>
    /// An old e-mail is not verified yet (and no verified one has anything to migrate): the account must enter the code sent to
    /// it, or support link it. Until then nothing of the old account is shown.
    /// </summary>
    OldEmailUnverified,

    /// <summary>
    /// Another business account has proved that it owns an old e-mail of this account, and no other e-mail has anything to
    /// migrate or is left to verify: only CPS support can settle whose it is. Nothing of that e-mail's old account is shown.
    /// </summary>
    OldEmailVerifiedByAnotherAccount,

    /// <summary>
    /// Every product left in the old accounts waits (each product's <c>waitingReason</c> says why: a model the catalogue does not list
    /// yet, a serial registered to another business account) and no membership number is left to carry over: migrating now would
    /// move nothing. Until 2026-12-07 the status offered MIGRATE PRODUCTS for them, and each press moved nothing.
    /// </summary>
    ProductsWaiting,
}

/// <summary>
/// Where an old e-mail of the account stands: verified (how, when), a code waiting (until when), neither, or verified by another
/// business account (no code can be asked for or entered: CPS support settles it).
/// </summary>
public enum OldEmailVerificationState
{
    Verified,
    CodeSent,
    Unverified,
    VerifiedByAnotherAccount,
}

/// <summary>Whether the account has proved that it owns one of its old CPS e-mails.</summary>
/// <param name="VerifiedBy">How it was verified (code, support_link, or migrated_before_verification for what moved earlier).</param>
/// <param name="CodeExpiresAt">When the code waiting for it expires.</param>
/// <param name="AttemptsLeft">Wrong codes still allowed for the waiting code.</param>
/// <param name="Email">The old CPS e-mail.</param>
/// <param name="State">Where its verification stands.</param>
/// <param name="VerifiedAt">When it was verified, UTC; null unless verified.</param>
public sealed record OldEmailVerificationStatus(
    string Email,
    OldEmailVerificationState State,
    OldCpsEmailVerificationMethod? VerifiedBy,
    DateTimeOffset? VerifiedAt,
    DateTimeOffset? CodeExpiresAt,
    int? AttemptsLeft);

/// <summary>Where a product of an old CPS account stands: <c>to_migrate</c>, <c>migrated</c> (to this account) or
/// <c>migrated_to_another_account</c>.</summary>
public enum LegacyProductState
{
    ToMigrate,
    Migrated,
    MigratedToAnotherAccount,
}

/// <summary>A product of an old CPS account, as the old data holds it, and whether it was migrated.</summary>
/// <param name="LegacyProductId">The product's id in the imported old CPS data.</param>
/// <param name="ModelCode">The model code in the old data.</param>
/// <param name="SerialNumber">The serial number; null when the old data has none.</param>
/// <param name="PurchaseDate">The purchase date; null when the old data has none.</param>
/// <param name="CountryOfPurchase">ISO 3166-1 alpha-2 code; null when the old data has none.</param>
/// <param name="Dealer">The dealer; null when the old data has none.</param>
/// <param name="MissingDetails">The mandatory details the old data lacks: a migrated product needs them before its points are
/// allocated.</param>
/// <param name="State">Whether it was migrated, and where.</param>
/// <param name="RegistrationId">The registration it became in this account; null unless migrated here.</param>
/// <param name="WaitingReason">For a product to migrate that a migration now would leave waiting, why (as the migration's
/// <c>notMigratedProducts</c> would say); null when it would migrate, or is migrated.</param>
/// <param name="WaitingDetail">The same in words for a person; null with <c>waitingReason</c>.</param>
public sealed record LegacyProductStatus(
    Guid LegacyProductId,
    string ModelCode,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail> MissingDetails,
    LegacyProductState State,
    Guid? RegistrationId,
    NotMigratedReason? WaitingReason,
    string? WaitingDetail);

/// <summary>An old CPS account of one of the account's verified old e-mails.</summary>
/// <param name="MembershipNumberRecorded">The old membership number is in the account's history of numbers.</param>
/// <param name="MembershipNumberHeldByAnotherAccount">
/// Another business account holds the old membership number, so migrating does not add it to this account's history.
/// </param>
/// <param name="OldEmail">The old CPS e-mail.</param>
/// <param name="OldMembershipNumber">The old account's membership number.</param>
/// <param name="ProductsToMigrate">Its products not migrated yet.</param>
/// <param name="Products">Every product of the old account.</param>
public sealed record LegacyAccountStatus(
    string OldEmail,
    string OldMembershipNumber,
    bool MembershipNumberRecorded,
    bool MembershipNumberHeldByAnotherAccount,
    int ProductsToMigrate,
    IReadOnlyList<LegacyProductStatus> Products);

/// <summary>Whether the portal shows MIGRATE PRODUCTS and, if not, why; what the old accounts hold. Computed on read.</summary>
/// <param name="Reason">Why MIGRATE PRODUCTS is not available (the <c>explanation</c> says it in words); null when <paramref name="Available"/>.</param>
/// <param name="OldEmailsWithoutLegacyAccount">Verified old e-mails of the account that no imported old account has.</param>
/// <param name="LegacyAccounts">The old accounts of the verified old e-mails only: an unverified e-mail shows nothing of its old account.</param>
/// <param name="OldEmailVerifications">Each old e-mail and whether the account has proved it owns it.</param>
/// <param name="AccountId">The business account.</param>
/// <param name="Available">Whether MIGRATE PRODUCTS is available now.</param>
/// <param name="Explanation">What the status means, in words for the member.</param>
/// <param name="OldEmails">Every old CPS e-mail the account gives, verified or not.</param>
/// <param name="ProductsToMigrate">Products of the visible old accounts not migrated yet.</param>
public sealed record MigrationStatus(
    Guid AccountId,
    bool Available,
    MigrationUnavailableReason? Reason,
    string Explanation,
    IReadOnlyList<string> OldEmails,
    IReadOnlyList<string> OldEmailsWithoutLegacyAccount,
    IReadOnlyList<LegacyAccountStatus> LegacyAccounts,
    int ProductsToMigrate,
    IReadOnlyList<OldEmailVerificationStatus> OldEmailVerifications);

/// <summary>What the status was decided on, for the migration to continue from (the old accounts of verified e-mails only).</summary>
public sealed record MigrationRead(AccountView Account, IReadOnlyList<LegacyAccountView> LegacyAccounts, MigrationStatus Status);

public static class MigrationAvailability
{
    /// <summary>
    /// MIGRATE PRODUCTS is available when a verified old e-mail of the account matches an imported old account that still has a
    /// product to migrate, or whose membership number is not yet in the account's history and not held by another account. The
    /// old accounts of unverified e-mails are left out entirely (products, membership number, even whether one exists).
    /// </summary>
    /// <param name="heldByOtherAccounts">Old membership numbers that other accounts hold (none when not given).</param>
    /// <param name="waiting">The products to migrate that a migration now would leave waiting, by legacy product id, as
    /// <see cref="ProductMigration.Decide"/> says (none when not given).</param>
    public static MigrationStatus Decide(Guid accountId, IReadOnlyList<OldEmailStanding> standings, IReadOnlyList<LegacyAccountView> legacyAccounts,
        IReadOnlyCollection<string> membershipNumbers, DateTimeOffset now, IReadOnlyCollection<string>? heldByOtherAccounts = null,
        IReadOnlyDictionary<Guid, NotMigratedProduct>? waiting = null)
    {
        heldByOtherAccounts ??= [];
        waiting ??= new Dictionary<Guid, NotMigratedProduct>();
        var oldEmails = standings.Select(s => s.Email).ToList();
        var verified = standings.Where(s => s.Verified).Select(s => s.Email).ToHashSet();
        // Owned elsewhere: asking for a code is refused, so the member is not told to prove them.
        var claimed = standings.Where(s => !s.Verified && s.VerifiedByAnotherAccount is not null).Select(s => s.Email).ToList();
        var unverified = standings.Where(s => !s.Verified && s.VerifiedByAnotherAccount is null).Select(s => s.Email).ToList();
        var visible = legacyAccounts.Where(l => verified.Contains(l.OldEmail)).ToList();
        var found = visible.Select(l => l.OldEmail).ToHashSet();
        var accounts = visible.Select(l => new LegacyAccountStatus(
                l.OldEmail,
                l.OldMembershipNumber,
                membershipNumbers.Contains(l.OldMembershipNumber),
                !membershipNumbers.Contains(l.OldMembershipNumber) && heldByOtherAccounts.Contains(l.OldMembershipNumber),
                l.Products.Count(p => p.MigratedToAccountId is null),
                l.Products.Select(p => new LegacyProductStatus(p.Id, p.ModelCode, p.SerialNumber, p.PurchaseDate, p.CountryOfPurchase, p.Dealer,
                    p.ToDetails().Details.Missing,
                    p.MigratedToAccountId switch
                    {
                        null => LegacyProductState.ToMigrate,
                        var to when to == accountId => LegacyProductState.Migrated,
                        _ => LegacyProductState.MigratedToAnotherAccount,
                    },
                    p.MigratedToAccountId == accountId ? p.RegistrationId : null,
                    p.MigratedToAccountId is null ? waiting.GetValueOrDefault(p.Id)?.Reason : null,
                    p.MigratedToAccountId is null ? waiting.GetValueOrDefault(p.Id)?.Detail : null)).ToList()))
            .ToList();
        var toMigrate = accounts.Sum(a => a.ProductsToMigrate);
        var waits = accounts.SelectMany(a => a.Products).Count(p => p.WaitingReason is not null);
        var movable = toMigrate - waits;
        // A product a migration would leave waiting (a model the catalogue lacks, a serial another account holds) is no reason to
        // offer MIGRATE PRODUCTS: each press would move nothing.
        var waitNote = waits == 0 ? "" : waits == 1
            ? " 1 product waits: the product says why, and it migrates once that changes."
            : $" {waits} products wait: each says why, and migrates once that changes.";
        var missing = oldEmails.Where(e => verified.Contains(e) && !found.Contains(e)).ToList();
        var numberToRecord = accounts.Any(a => !a.MembershipNumberRecorded && !a.MembershipNumberHeldByAnotherAccount);
        var something = movable > 0 || numberToRecord;
        var numberEmails = accounts.Where(a => !a.MembershipNumberRecorded && !a.MembershipNumberHeldByAnotherAccount).Select(a => a.OldEmail).ToList();
        var held = accounts.Where(a => a.MembershipNumberHeldByAnotherAccount).Select(a => a.OldMembershipNumber).Distinct().ToList();
        var heldNote = held.Count == 0 ? "" :
            $" The old membership number {string.Join(", ", held)} is held by another business account and is not carried over; if it is " +
            "this account's, contact CPS support.";
        var prove = $"Prove that the account owns {string.Join(", ", unverified)}: ask for a code to be sent there and enter it, or ask CPS " +
                    "support to link the e-mail.";
        var claimedNote = claimed.Count == 1
            ? $"Another business account has already proved that it owns {claimed[0]}. If this account owns it, contact CPS support."
            : $"Other business accounts have already proved that they own {string.Join(", ", claimed)}. If this account owns them, contact " +
              "CPS support.";

        var (reason, explanation) = oldEmails.Count switch
        {
            0 => (MigrationUnavailableReason.NoOldEmail,
                "The account gives no old CPS e-mail, so there is nothing to migrate. Register the products again, or ask CPS support to " +
                "link the e-mail of the old CPS account."),
            // Nothing but the membership number: "0 products ... can be migrated, with the old membership number" said otherwise.
            _ when something && movable == 0 => ((MigrationUnavailableReason?)null,
                $"Only the old membership number{(numberEmails.Count == 1 ? "" : "s")} from {string.Join(", ", numberEmails)} can be " +
                (toMigrate == 0 ? "migrated: there are no products to migrate." : "migrated now." + waitNote) + heldNote +
                (unverified.Count > 0 ? $" {prove}" : "") + (claimed.Count > 0 ? $" {claimedNote}" : "")),
            _ when something => ((MigrationUnavailableReason?)null,
                $"{movable} product{(movable == 1 ? "" : "s")} from {string.Join(", ", accounts.Select(a => a.OldEmail))} can be migrated" +
                (numberToRecord ? ", with the old membership number." : ".") + waitNote + heldNote +
                (unverified.Count > 0 ? $" {prove}" : "") + (claimed.Count > 0 ? $" {claimedNote}" : "")),
            _ when unverified.Count > 0 => (MigrationUnavailableReason.OldEmailUnverified,
                $"Not verified yet. {prove}" + (claimed.Count > 0 ? $" {claimedNote}" : "")),
            _ when claimed.Count > 0 => (MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount, claimedNote + (verified.Count == 0 ? ""
                : accounts.Count == 0 ? $" No old CPS account was found for {string.Join(", ", oldEmails.Where(verified.Contains))}."
                : " Everything from the old CPS account" + (accounts.Count == 1 ? "" : "s") + $" of {string.Join(", ", accounts.Select(a => a.OldEmail))} " +
                  "has been migrated." + heldNote)),
            _ when waits > 0 => (MigrationUnavailableReason.ProductsWaiting,
                "Nothing can be migrated now." + waitNote + heldNote),
            _ when accounts.Count == 0 => (MigrationUnavailableReason.NoLegacyAccount,
                $"No old CPS account was found for {string.Join(", ", oldEmails)}. Check the e-mail with CPS support, or register the products again."),
            _ => (MigrationUnavailableReason.EverythingMigrated,
                "Everything from the old CPS account" + (accounts.Count == 1 ? "" : "s") + " has been migrated." + heldNote),
        };
        var verifications = standings.Select(s => new OldEmailVerificationStatus(
                s.Email,
                s.Verified ? OldEmailVerificationState.Verified
                : s.VerifiedByAnotherAccount is not null ? OldEmailVerificationState.VerifiedByAnotherAccount
                : s.Pending is { AttemptsLeft: > 0 } p && p.ExpiresAt > now ? OldEmailVerificationState.CodeSent
                : OldEmailVerificationState.Unverified,
                s.VerifiedBy,
                s.VerifiedAt,
                // A code sent before another account verified the e-mail can no longer be entered.
                s.Verified || s.VerifiedByAnotherAccount is not null ? null : s.Pending?.ExpiresAt,
                s.Verified || s.VerifiedByAnotherAccount is not null ? null : s.Pending?.AttemptsLeft))
            .ToList();
        return new MigrationStatus(accountId, reason is null, reason, explanation, oldEmails, missing, accounts, toMigrate, verifications);
    }
}

public static class MigrationStatusEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/migration", OperationId = "GetMigrationStatus")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Whether MIGRATE PRODUCTS is available and, if not, why; the matching old CPS accounts and their products")]
    public static async Task<MigrationStatus> Get(Guid accountId, IQuerySession session, TimeProvider clock, CancellationToken ct) =>
        (await ReadAsync(session, accountId, clock.GetUtcNow(), ct) ?? throw new InvalidOperationException($"Account {accountId} vanished.")).Status;

    /// <summary>
    /// The account, the legacy accounts of its verified old e-mails (by their derived ids: no scan) and the status; null without
    /// account. Four round trips: the account; its old accounts, membership and e-mail claims; its verifications; then, in one
    /// batch, who holds the old numbers, for unverified e-mails without a claim the facts from before claims existed, and the
    /// catalogue's models and the serial claims of the products to migrate (what a migration would leave waiting). One more
    /// (the membership stream) when a number the account carried over is also an unverified e-mail's: which e-mail it came from.
    /// </summary>
    public static async Task<MigrationRead?> ReadAsync(IQuerySession session, Guid accountId, DateTimeOffset now, CancellationToken ct)
    {
        if (await session.LoadAsync<AccountView>(accountId, ct) is not { } account)
            return null;
        var emails = account.OldCpsEmails.Select(LegacyIds.NormalizeEmail).Distinct().ToList();
        var batch = session.CreateBatchQuery();
        var legacyRead = emails.Count == 0
            ? Task.FromResult<IReadOnlyList<LegacyAccountView>>([])
            : batch.LoadMany<LegacyAccountView>().ById([.. emails.Select(LegacyIds.AccountFor)]);
        var claimsRead = emails.Count == 0
            ? Task.FromResult<IReadOnlyList<OldCpsEmailClaim>>([])
            : batch.LoadMany<OldCpsEmailClaim>().ById([.. emails]);
        var membershipRead = batch.Load<AccountMembership>(MembershipStream.For(accountId));
        await batch.Execute(ct);
        var ordered = (await legacyRead).OrderBy(l => emails.IndexOf(l.OldEmail)).ToList();
        var claims = (await claimsRead).ToDictionary(c => c.Id);
        var membership = await membershipRead;
        var numbers = membership?.MembershipNumbers ?? [];

        var verifications = await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(accountId, token: ct);
        var carriedOver = await NumbersCarriedOver.ByOldEmailIfSharedAsync(session, accountId, membership,
            ordered.Where(l => verifications?.Find(l.OldEmail) is { VerifiedBy: null }), ct);
        var own = verifications?.Emails
            .Select(state => OldEmailStandings.Of(accountId, state, ordered.FirstOrDefault(l => l.OldEmail == state.Email),
                carriedOver.From(state.Email), null))
            .ToList() ?? [];
        var verified = own.Where(s => s.Verified).Select(s => s.Email).ToHashSet();

        var second = session.CreateBatchQuery();
        var toCheck = ordered.Where(l => verified.Contains(l.OldEmail) && !numbers.Contains(l.OldMembershipNumber))
            .Select(l => l.OldMembershipNumber).Distinct().ToList();
        var heldRead = MembershipNumberClaims.HeldByOtherAccounts(second, accountId, toCheck);
        // The same answer as a code request's (OldEmailReads.StandingAsync): it refuses an e-mail another account verified.
        var beforeClaims = own.Where(s => !s.Verified && !claims.ContainsKey(s.Email)).ToDictionary(s => s.Email,
            s => OldEmailStandings.VerifiedBeforeClaims(second, accountId, s.Email, ordered.FirstOrDefault(l => l.OldEmail == s.Email)));
        // What a migration now would leave waiting, decided as the migration decides it, from the catalogue and the serial claims.
        var pending = ordered.Where(l => verified.Contains(l.OldEmail))
            .Select(l => (Legacy: l, Products: (IReadOnlyList<LegacyProduct>)[.. l.Products.Where(p => p.MigratedToAccountId is null)]))
            .Where(l => l.Products.Count > 0).ToList();
        var pendingProducts = pending.SelectMany(l => l.Products).ToList();
        var modelsRead = pendingProducts.Count == 0 ? null
            : second.LoadMany<Catalogue.ProductModelView>().ById([.. pendingProducts.Select(p => Catalogue.ProductModelCode.StreamIdFor(p.ModelCode)).Distinct()]);
        var serials = pendingProducts.Where(p => p.SerialNumber is not null)
            .Select(p => Products.SerialNumbers.OwnershipKey(p.ModelCode, p.SerialNumber!)).Distinct().ToArray();
        var ownersRead = serials.Length == 0 ? null : second.LoadMany<Products.SerialOwnership>().ById(serials);
        if (toCheck.Count > 0 || beforeClaims.Count > 0 || pendingProducts.Count > 0)
            await second.Execute(ct);
        var held = await heldRead();
        var models = modelsRead is null ? new Dictionary<Guid, Catalogue.ProductModelView>() : (await modelsRead).ToDictionary(m => m.Id);
        var owners = ownersRead is null ? new Dictionary<string, Products.SerialOwnership>() : (await ownersRead).ToDictionary(o => o.Id);
        var waiting = pending.SelectMany(l => ProductMigration.Decide(accountId, l.Legacy, l.Products, models, owners, now).NotMigrated)
            .ToDictionary(w => w.LegacyProductId);
        var standings = new List<OldEmailStanding>();
        foreach (var s in own)
        {
            var other = s.Verified ? null
                : claims.TryGetValue(s.Email, out var claim) ? OldEmailStandings.ClaimedByAnother(accountId, claim)
                : await beforeClaims[s.Email](session, ct);
            standings.Add(s with { VerifiedByAnotherAccount = other });
        }

        var status = MigrationAvailability.Decide(accountId, standings, ordered, numbers, now, [.. held.Keys], waiting);
        return new MigrationRead(account, ordered.Where(l => verified.Contains(l.OldEmail)).ToList(), status);
    }
}
