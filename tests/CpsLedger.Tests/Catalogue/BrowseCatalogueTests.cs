using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Catalogue;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Catalogue;

public sealed class BrowseCatalogueTests(LedgerApp app) : LedgerTest(app)
{
    private const string Catalogue = """
        code,name,category,points,status
        EOS-R5,EOS R5,camera_body,340,
        EOS-R6-MKII,EOS R6 Mark II,camera_body,225,
        EOS-1DX,EOS 1D X,camera_body,450,withdrawn
        EF-40-STM,EF 40mm f/2.8 STM,lens,15,
        RF-24-70-F2.8L,RF 24-70mm F2.8 L IS USM,lens,215,
        RF-50-F1.8-STM,RF 50mm F1.8 STM,lens,18,
        PRO-1000,imagePROGRAF PRO-1000,printer,100,
        PRO-300,IMAGEPROGRAF PRO-300,printer,70,
        INK-1,Inkjet test printer,printer,1,
        SPEEDLITE-EL-1,Speedlite EL-1,flash,75,
        UNDER_SCORE,Percent 100% model,accessory,1,
        """;

    private Task<CataloguePage> Browse(string query = "", string role = LedgerRoles.Member) =>
        App.ClientAs(role, Guid.NewGuid()).GetAsync($"{CatalogueFiles.ModelsUrl}{query}").ReadAs<CataloguePage>();

    private static string[] Codes(CataloguePage page) => [.. page.Items.Select(i => i.Code)];

    [Fact]
    public async Task The_catalogue_lists_listed_models_by_category_then_name()
    {
        await App.Import(Catalogue);

        var page = await Browse();

        Assert.Equal(["UNDER_SCORE", "EOS-R5", "EOS-R6-MKII", "SPEEDLITE-EL-1", "EF-40-STM", "RF-24-70-F2.8L", "RF-50-F1.8-STM", "PRO-1000", "PRO-300", "INK-1"],
            Codes(page));
        Assert.Equal((1, 50, 10L), (page.Page, page.PageSize, page.Total));
    }

    [Fact]
    public async Task A_page_of_the_catalogue_reads_as_reviewed()
    {
        await App.Import(Catalogue);
        var response = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid())
            .GetAsync($"{CatalogueFiles.ModelsUrl}?category=camera_body&includeWithdrawn=true&page=1&pageSize=2");

        await response.ShouldBe(HttpStatusCode.OK);
        Snapshots.MatchJson(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Withdrawn_models_show_only_when_asked_for()
    {
        await App.Import(Catalogue);

        Assert.DoesNotContain("EOS-1DX", Codes(await Browse("?category=camera_body")));
        var all = await Browse("?category=camera_body&includeWithdrawn=true");
        Assert.Equal(["EOS-1DX", "EOS-R5", "EOS-R6-MKII"], Codes(all));
        Assert.True(all.Items[0].Withdrawn);
    }

    [Theory]
    [InlineData("r5", new[] { "EOS-R5" })]
    [InlineData("STM", new[] { "EF-40-STM", "RF-50-F1.8-STM" })]
    [InlineData("mark ii", new[] { "EOS-R6-MKII" })]
    [InlineData("imageprograf", new[] { "PRO-1000", "PRO-300" })]
    [InlineData("  f2.8 ", new[] { "RF-24-70-F2.8L" })]
    [InlineData("_", new[] { "UNDER_SCORE" })]
    [InlineData("100%", new[] { "UNDER_SCORE" })]
    [InlineData("nothing like it", new string[0])]
    public async Task Search_finds_a_code_or_name_containing_the_text_in_any_case(string search, string[] codes)
    {
        await App.Import(Catalogue);
        Assert.Equal(codes, Codes(await Browse($"?search={Uri.EscapeDataString(search)}")));
    }

    [Fact]
    public async Task Search_and_category_combine()
    {
        await App.Import(Catalogue);
        var page = await Browse("?search=eos&category=camera_body&includeWithdrawn=true");
        Assert.Equal(["EOS-1DX", "EOS-R5", "EOS-R6-MKII"], Codes(page));
        Assert.Empty(Codes(await Browse("?search=eos&category=lens")));
    }

    [Fact]
    public async Task Pages_split_the_sorted_list_and_the_total_counts_every_match()
    {
        await App.Import(Catalogue);

        var second = await Browse("?pageSize=3&page=2");
        Assert.Equal(["SPEEDLITE-EL-1", "EF-40-STM", "RF-24-70-F2.8L"], Codes(second));
        Assert.Equal((2, 3, 10L), (second.Page, second.PageSize, second.Total));

        Assert.Equal(["INK-1"], Codes(await Browse("?pageSize=3&page=4")));
        var beyond = await Browse("?pageSize=3&page=5");
        Assert.Empty(Codes(beyond));
        Assert.Equal(10, beyond.Total);
    }

    [Theory]
    [InlineData("?page=0", "page")]
    [InlineData("?page=-1", "page")]
    [InlineData("?page=abc", "page")]
    [InlineData("?pageSize=0", "pageSize")]
    [InlineData("?pageSize=201", "pageSize")]
    [InlineData("?pageSize=1.5", "pageSize")]
    [InlineData("?includeWithdrawn=maybe", "includeWithdrawn")]
    [InlineData("?category=lenses", "category")]
    [InlineData("?category=Lens", "category")]
    public async Task Bad_paging_or_filters_are_400_naming_the_parameter(string query, string field)
    {
        var response = await App.ClientAs(LedgerRoles.Support).GetAsync($"{CatalogueFiles.ModelsUrl}{query}");
        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([field], problem.Errors.Keys);
    }

    [Fact]
    public async Task The_largest_page_is_accepted()
    {
        await App.Import(Catalogue);
        Assert.Equal(10, Codes(await Browse("?pageSize=200")).Length);
    }

    [Theory]
    [InlineData(LedgerRoles.Member)]
    [InlineData(LedgerRoles.Portal)]
    [InlineData(LedgerRoles.Auditor)]
    [InlineData(LedgerRoles.Finance)]
    [InlineData(LedgerRoles.Support)]
    public async Task Every_role_may_browse(string role)
    {
        await App.Import(Catalogue);
        Assert.Equal(10, (await Browse(role: role)).Total);
        await (await App.ClientAs(role, Guid.NewGuid()).GetAsync($"{CatalogueFiles.ModelsUrl}/EOS-R5")).ShouldBe(HttpStatusCode.OK);
        await (await App.ClientAs(role, Guid.NewGuid()).GetAsync("/api/catalogue/categories")).ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(CatalogueFiles.ModelsUrl)]
    [InlineData(CatalogueFiles.ModelsUrl + "/EOS-R5")]
    [InlineData("/api/catalogue/categories")]
    public async Task Without_a_token_browsing_is_401(string url)
    {
        var response = await App.Anonymous().GetAsync(url);
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task One_model_is_read_by_its_code_in_any_case_with_its_points_history()
    {
        await App.Import(Catalogue);
        await App.Import("code,name,category,points\nEOS-R5,EOS R5,camera_body,360\n");

        var model = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid()).GetAsync($"{CatalogueFiles.ModelsUrl}/eos-r5").ReadAs<ProductModelView>();

        Assert.Equal(("EOS-R5", "EOS R5", "camera_body", 360, 2L), (model.Code, model.Name, model.Category, model.Points, model.CatalogueVersion));
        Assert.Equal([(1L, 340), (2L, 360)], model.PointsHistory.Select(p => (p.CatalogueVersion, p.Points)));
    }

    [Fact]
    public async Task A_code_with_spaces_and_dots_is_found_through_its_escaped_url()
    {
        await App.Import("code,name,category,points\nRF 24-70 F2.8L,RF 24-70mm F2.8 L IS USM,lens,215\n");
        var model = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid())
            .GetAsync($"{CatalogueFiles.ModelsUrl}/{Uri.EscapeDataString("rf 24-70 f2.8l")}").ReadAs<ProductModelView>();
        Assert.Equal("RF 24-70 F2.8L", model.Code);
    }

    [Fact]
    public async Task An_unknown_model_is_a_404_problem()
    {
        var response = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid()).GetAsync($"{CatalogueFiles.ModelsUrl}/eos-r99");
        var problem = await response.ReadProblem(HttpStatusCode.NotFound);
        Assert.Equal("There is no product model with code \"EOS-R99\" in the catalogue.", problem.Detail);
    }

    [Fact]
    public async Task Categories_are_the_fixed_set_each_counting_its_listed_models()
    {
        await App.Import(Catalogue);

        var categories = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid()).GetAsync("/api/catalogue/categories")
            .ReadAs<List<CatalogueCategorySummary>>();

        var counts = categories.ToDictionary(c => c.Category, c => c.ListedModels);
        Assert.Equal(
            [
                "camera_body", "lens", "cinema_camera", "cinema_lens", "camcorder", "ptz_camera", "flash", "printer", "projector", "scanner",
                "accessory",
            ],
            counts.Keys);
        Assert.Equal((2, 3, 3, 1, 1, 0), (counts["camera_body"], counts["lens"], counts["printer"], counts["flash"], counts["accessory"], counts["scanner"]));
        Assert.Equal("Camera bodies (EOS)", categories[0].Name);
    }
}
