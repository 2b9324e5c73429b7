using JasperFx.Events.Projections;
using Marten;

namespace CpsLedger.Api.Products;

public static class ProductsSetup
{
    public static void AddProducts(this StoreOptions opts)
    {
        // The write model is aggregated live from its short stream.
        opts.Projections.LiveStreamAggregation<ProductRegistration>();

        // Inline: "My Products", the summary and the explanation show a member's write in the very next read, and the
        // serial-number claim is checked by the database inside the registering transaction.
        opts.Projections.Add<ProductViewProjection>(ProjectionLifecycle.Inline);
        opts.Projections.Add<SerialOwnershipProjection>(ProjectionLifecycle.Inline);

        // A real, indexed column: an account's products are read without touching other accounts' rows.
        opts.Schema.For<ProductView>().Duplicate(x => x.AccountId);
        opts.Schema.For<SerialOwnership>().Duplicate(x => x.AccountId);
    }
}
