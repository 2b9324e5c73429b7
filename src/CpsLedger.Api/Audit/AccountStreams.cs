using CpsLedger.Api.Membership;
using CpsLedger.Api.Products;
using Marten;

namespace CpsLedger.Api.Audit;

/// <summary>What a stream is to an account, as the history names it.</summary>
public enum AccountStreamKind
{
    Account,
    Registration,
    Membership,
    Invoice,
    PaymentCard,

    /// <summary>An old CPS account's stream: the events there that name this account (its products migrated in).</summary>
    OldCpsAccount,
}

public sealed record AccountStream(Guid StreamId, AccountStreamKind Kind);

/// <summary>
/// Every stream that holds events about one account: the account's own stream, its membership and payment-card streams
/// (ids derived from the account id), and each product registration and invoice ever made for it (found through the
/// indexed AccountId of the product views and invoices).
/// </summary>
public static class AccountStreams
{
    public static async Task<IReadOnlyList<AccountStream>> OfAsync(IQuerySession session, Guid accountId, CancellationToken ct)
    {
        var registrations = await session.Query<ProductView>().Where(p => p.AccountId == accountId).Select(p => p.Id).ToListAsync(ct);
        var invoices = await session.Query<Invoicing.Invoice>().Where(i => i.AccountId == accountId).Select(i => i.Id).ToListAsync(ct);
        return
        [
            new AccountStream(accountId, AccountStreamKind.Account),
            new AccountStream(MembershipStream.For(accountId), AccountStreamKind.Membership),
            new AccountStream(Invoicing.PaymentCardStream.For(accountId), AccountStreamKind.PaymentCard),
            .. registrations.Select(id => new AccountStream(id, AccountStreamKind.Registration)),
            .. invoices.Select(id => new AccountStream(id, AccountStreamKind.Invoice)),
        ];
    }
}
