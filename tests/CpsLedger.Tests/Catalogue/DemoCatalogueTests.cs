using CpsLedger.Api.Catalogue;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Catalogue;

public sealed class DemoCatalogueTests(LedgerApp app) : LedgerTest(app)
{
    private DemoCatalogue Loader => App.Services.GetRequiredService<DemoCatalogue>();

    [Fact]
    public void The_demo_catalogue_is_a_valid_file_labelled_as_illustrative_with_the_values_the_rules_cite()
    {
        var text = File.ReadAllText(DemoCatalogue.FilePath);
        Assert.StartsWith("# ILLUSTRATIVE DEMO DATA", text);

        var reading = CatalogueFile.Read(File.ReadAllBytes(DemoCatalogue.FilePath), CatalogueFileFormat.Csv);
        Assert.True(reading.Accepted, string.Join(" | ", reading.Problems.Select(p => $"{p.Key}: {string.Join(" ", p.Value)}")));
        Assert.InRange(reading.Entries.Count, 30, 80);
        var byCode = reading.Entries.ToDictionary(e => e.Code);
        Assert.Equal(("EOS 5D Mark III", 235), (byCode["EOS-5D-MKIII"].Name, byCode["EOS-5D-MKIII"].Points));
        Assert.Equal(("EF 40mm f/2.8 STM", 15), (byCode["EF-40-STM"].Name, byCode["EF-40-STM"].Points));
        // The API tour (docs/api-tour.md) registers an EOS R5.
        Assert.Equal(CatalogueEntryStatus.Listed, byCode["EOS-R5"].Status);
    }

    [Fact]
    public async Task The_loader_fills_an_empty_catalogue_once()
    {
        var loaded = await Loader.LoadIfEmptyAsync(CancellationToken.None);

        Assert.NotNull(loaded);
        Assert.Equal(0, loaded.Unchanged);
        var events = await App.CatalogueEvents();
        Assert.All(events, e => Assert.Equal(DemoCatalogue.User, e.UserName));
        await using (var session = App.Store.QuerySession())
            Assert.Equal(loaded.Models, await session.Query<ProductModelView>().CountAsync());

        Assert.Null(await Loader.LoadIfEmptyAsync(CancellationToken.None));
        Assert.Equal(events.Count, await App.EventCount());
    }

    [Fact]
    public async Task The_loader_leaves_a_catalogue_with_models_alone()
    {
        await App.Import("code,name,category,points\nMY-MODEL,My model,lens,1\n");

        Assert.Null(await Loader.LoadIfEmptyAsync(CancellationToken.None));
        Assert.Equal(1, await App.EventCount());
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task Starting_loads_the_demo_only_when_the_setting_says_so(bool setting, bool loaded)
    {
        // The test host itself runs with the setting off (LedgerApp), so the catalogue starts empty.
        Assert.Equal(0, await App.EventCount());
        var loader = new DemoCatalogue(App.Store, App.Services.GetRequiredService<CatalogueImporter>(),
            Options.Create(new CatalogueOptions { LoadDemoOnFirstStart = setting }), NullLogger<DemoCatalogue>.Instance);

        await loader.StartAsync(CancellationToken.None);

        Assert.Equal(loaded, await App.EventCount() > 0);
    }
}
