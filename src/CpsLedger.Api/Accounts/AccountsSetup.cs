using JasperFx.Events.Projections;
using Marten;

namespace CpsLedger.Api.Accounts;

public static class AccountsSetup
{
    public static void AddAccounts(this StoreOptions opts)
    {
        // The write model is aggregated live from its (short) stream; registering it gives the contact e-mail natural key.
        opts.Projections.LiveStreamAggregation<BusinessAccount>();
        // Inline: a member reads its own write in the very next request.
        opts.Projections.Add<AccountViewProjection>(ProjectionLifecycle.Inline);
        opts.AddAccountSearchIndexes();
    }
}
