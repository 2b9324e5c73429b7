using Marten;
using Microsoft.Extensions.Options;

namespace CpsLedger.Api.Catalogue;

public sealed class CatalogueOptions
{
    public const string Section = "Catalogue";

    /// <summary>Load the illustrative demo catalogue when the service starts with an empty catalogue (Development).</summary>
    public bool LoadDemoOnFirstStart { get; set; }
}

/// <summary>
/// The demo catalogue (<c>Catalogue/demo-catalogue.csv</c>, copied next to the binaries): real Canon model names with
/// ILLUSTRATIVE points values, so that a fresh development service can register products at once. Loaded through the
/// same import path as a real catalogue file, only into an empty catalogue, and only when
/// <c>Catalogue:LoadDemoOnFirstStart</c> is true. As a hosted service it runs when the service starts, not for
/// command-line commands (they build the host without starting it).
/// </summary>
public sealed class DemoCatalogue(IDocumentStore store, CatalogueImporter importer, IOptions<CatalogueOptions> options,
    ILogger<DemoCatalogue> logger) : IHostedService
{
    /// <summary>Recorded as the user on the demo catalogue's events.</summary>
    public const string User = Platform.SystemActor.Prefix + "demo-catalogue";

    public static string FilePath => Path.Combine(AppContext.BaseDirectory, "Catalogue", "demo-catalogue.csv");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.LoadDemoOnFirstStart)
            await LoadIfEmptyAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Imports the demo catalogue unless the catalogue already has a model; null when it left the catalogue alone.</summary>
    public async Task<CatalogueImportResult?> LoadIfEmptyAsync(CancellationToken ct)
    {
        await using (var query = store.QuerySession())
        {
            if (await query.Query<ProductModelView>().AnyAsync(ct))
            {
                logger.LogDebug("The catalogue has models; the demo catalogue is not loaded");
                return null;
            }
        }

        var file = CatalogueFile.Read(await File.ReadAllBytesAsync(FilePath, ct), CatalogueFileFormat.Csv);
        var outcome = await importer.ImportAsync(store, file, User, ct);
        if (outcome.Result is not { } result)
        {
            // The shipped file is checked by the tests; this is a broken build, not bad input.
            throw new InvalidOperationException($"The demo catalogue {FilePath} is invalid: " +
                string.Join("; ", outcome.Problems.Select(p => $"{p.Key}: {string.Join(" ", p.Value)}")));
        }

        logger.LogInformation("Loaded the ILLUSTRATIVE demo catalogue ({Models} models) into the empty catalogue", result.Models);
        return result;
    }
}
