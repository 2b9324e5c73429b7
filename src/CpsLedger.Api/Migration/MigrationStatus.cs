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
}

public enum LegacyProductState
{
    ToMigrate,
    Migrated,
    MigratedToAnotherAccount,
}

public sealed record LegacyProductStatus(
    Guid LegacyProductId,
    string ModelCode,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail> MissingDetails,
    LegacyProductState State,
    Guid? RegistrationId);

/// <param name="MembershipNumberRecorded">The old membership number is in the account's history of numbers.</param>
public sealed record LegacyAccountStatus(
    string OldEmail,
    string OldMembershipNumber,
    bool MembershipNumberRecorded,
    int ProductsToMigrate,
    IReadOnlyList<LegacyProductStatus> Products);

/// <summary>Whether the portal shows MIGRATE PRODUCTS and, if not, why; what the old accounts hold. Computed on read.</summary>
/// <param name="Reason">null when <paramref name="Available"/>.</param>
/// <param name="OldEmailsWithoutLegacyAccount">Old e-mails of the account that no imported old account has.</param>
public sealed record MigrationStatus(
    Guid AccountId,
    bool Available,
    MigrationUnavailableReason? Reason,
    string Explanation,
    IReadOnlyList<string> OldEmails,
    IReadOnlyList<string> OldEmailsWithoutLegacyAccount,
    IReadOnlyList<LegacyAccountStatus> LegacyAccounts,
    int ProductsToMigrate);

/// <summary>What the status was decided on, for the migration to continue from.</summary>
public sealed record MigrationRead(AccountView Account, IReadOnlyList<LegacyAccountView> LegacyAccounts, MigrationStatus Status);

public static class MigrationAvailability
{
    /// <summary>
    /// MIGRATE PRODUCTS is available when an old e-mail of the account matches an imported old account that still has a
    /// product to migrate, or whose membership number is not yet in the account's history.
    /// </summary>
    public static MigrationStatus Decide(Guid accountId, IReadOnlyList<string> oldEmails, IReadOnlyList<LegacyAccountView> legacyAccounts,
        IReadOnlyCollection<string> membershipNumbers)
    {
        var found = legacyAccounts.Select(l => l.OldEmail).ToHashSet();
        var accounts = legacyAccounts.Select(l => new LegacyAccountStatus(
                l.OldEmail,
                l.OldMembershipNumber,
                membershipNumbers.Contains(l.OldMembershipNumber),
                l.Products.Count(p => p.MigratedToAccountId is null),
                l.Products.Select(p => new LegacyProductStatus(p.Id, p.ModelCode, p.SerialNumber, p.PurchaseDate, p.CountryOfPurchase, p.Dealer,
                    p.ToDetails().Details.Missing,
                    p.MigratedToAccountId switch
                    {
                        null => LegacyProductState.ToMigrate,
                        var to when to == accountId => LegacyProductState.Migrated,
                        _ => LegacyProductState.MigratedToAnotherAccount,
                    },
                    p.MigratedToAccountId == accountId ? p.RegistrationId : null)).ToList()))
            .ToList();
        var toMigrate = accounts.Sum(a => a.ProductsToMigrate);
        var missing = oldEmails.Where(e => !found.Contains(e)).ToList();

        var (reason, explanation) = (oldEmails.Count, accounts.Count) switch
        {
            (0, _) => (MigrationUnavailableReason.NoOldEmail,
                "The account gives no old CPS e-mail, so there is nothing to migrate. Register the products again, or ask CPS support to " +
                "link the e-mail of the old CPS account."),
            (_, 0) => (MigrationUnavailableReason.NoLegacyAccount,
                $"No old CPS account was found for {string.Join(", ", oldEmails)}. Check the e-mail with CPS support, or register the products again."),
            _ when toMigrate == 0 && accounts.All(a => a.MembershipNumberRecorded) => (MigrationUnavailableReason.EverythingMigrated,
                "Everything from the old CPS account" + (accounts.Count == 1 ? "" : "s") + " has been migrated."),
            _ => ((MigrationUnavailableReason?)null,
                $"{toMigrate} product{(toMigrate == 1 ? "" : "s")} from {string.Join(", ", accounts.Select(a => a.OldEmail))} can be migrated" +
                (accounts.Any(a => !a.MembershipNumberRecorded) ? ", with the old membership number." : ".")),
        };
        return new MigrationStatus(accountId, reason is null, reason, explanation, oldEmails, missing, accounts, toMigrate);
    }
}

public static class MigrationStatusEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/migration", OperationId = "GetMigrationStatus")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Whether MIGRATE PRODUCTS is available and, if not, why; the matching old CPS accounts and their products")]
    public static async Task<MigrationStatus> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        (await ReadAsync(session, accountId, ct) ?? throw new InvalidOperationException($"Account {accountId} vanished.")).Status;

    /// <summary>The account, the legacy accounts of its old e-mails (by their derived ids: no scan) and the status; null without account.</summary>
    public static async Task<MigrationRead?> ReadAsync(IQuerySession session, Guid accountId, CancellationToken ct)
    {
        if (await session.LoadAsync<AccountView>(accountId, ct) is not { } account)
            return null;
        var emails = account.OldCpsEmails.Select(LegacyIds.NormalizeEmail).Distinct().ToList();
        var legacy = emails.Count == 0 ? [] : await session.LoadManyAsync<LegacyAccountView>(ct, emails.Select(LegacyIds.AccountFor));
        var ordered = legacy.OrderBy(l => emails.IndexOf(l.OldEmail)).ToList();
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct);
        return new MigrationRead(account, ordered,
            MigrationAvailability.Decide(accountId, emails, ordered, membership?.MembershipNumbers ?? []));
    }
}
