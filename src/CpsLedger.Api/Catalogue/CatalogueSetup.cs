using JasperFx.Events.Projections;
using Marten;
using Microsoft.AspNetCore.OpenApi;

namespace CpsLedger.Api.Catalogue;

public static class CatalogueSetup
{
    public static void AddCatalogue(this StoreOptions opts)
    {
        // Inline: a registration made right after an import sees the new value.
        opts.Projections.Add<ProductModelViewProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<ProductModelView>()
            .UniqueIndex(x => x.Code)
            .Index(x => x.Category);
    }

    /// <summary>The import path shared by the API, the command line and the demo loader; the demo loader itself.</summary>
    public static void AddCatalogue(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CatalogueOptions>().Bind(builder.Configuration.GetSection(CatalogueOptions.Section));
        builder.Services.AddSingleton<CatalogueImporter>();
        builder.Services.AddSingleton<DemoCatalogue>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DemoCatalogue>());
        builder.Services.Configure<OpenApiOptions>("v1", o => o.AddOperationTransformer<ImportCatalogueRequestBody>());
    }
}
