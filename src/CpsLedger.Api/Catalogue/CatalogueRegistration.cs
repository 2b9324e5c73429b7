using JasperFx.Events.Projections;
using Marten;

namespace CpsLedger.Api.Catalogue;

public static class CatalogueRegistration
{
    public static void AddCatalogue(this StoreOptions opts)
    {
        // Inline: a registration made right after an import sees the new value.
        opts.Projections.Add<ProductModelViewProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<ProductModelView>()
            .UniqueIndex(x => x.Code)
            .Index(x => x.Category);
    }
}
