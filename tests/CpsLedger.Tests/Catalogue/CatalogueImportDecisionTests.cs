using CpsLedger.Api.Catalogue;

namespace CpsLedger.Tests.Catalogue;

/// <summary>The import decision: which events a catalogue file gives each model, without a database.</summary>
public sealed class CatalogueImportDecisionTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private static CatalogueEntry Row(string code = "EOS-R5", string name = "EOS R5", string category = "camera_body", int points = 340,
        CatalogueEntryStatus status = CatalogueEntryStatus.Listed) => new("line 2", code, name, category, points, status);

    private static ProductModelView Model(string code = "EOS-R5", string name = "EOS R5", string category = "camera_body", int points = 340,
        bool withdrawn = false, long version = 3) => new()
        {
            Id = ProductModelCode.StreamIdFor(code),
            Code = code,
            Name = name,
            Category = category,
            Points = points,
            Withdrawn = withdrawn,
            CatalogueVersion = version,
        };

    private static Guid R5 => ProductModelCode.StreamIdFor("EOS-R5");

    private static CatalogueImportPlan Decide(CatalogueEntry row, params ProductModelView[] current) => CatalogueImport.Decide([row], current, Now);

    [Fact]
    public void A_new_code_is_listed_with_the_values_of_the_file()
    {
        var plan = Decide(Row());

        var change = Assert.Single(plan.Changes);
        Assert.Null(change.Current);
        Assert.Equal(new ProductModelListed(R5, "EOS-R5", "EOS R5", "camera_body", 340, Now), Assert.Single(change.Events));
        Assert.Equal(new CatalogueImportResult(1, 1, 0, 0, 0, 0, 0), plan.Result);
    }

    [Fact]
    public void An_identical_row_decides_nothing()
    {
        var plan = Decide(Row(), Model());
        Assert.Empty(plan.Changes);
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 0, 0, 0, 1), plan.Result);
    }

    [Fact]
    public void A_different_points_value_is_a_points_change_from_the_current_value()
    {
        var plan = Decide(Row(points: 360), Model(points: 340));

        Assert.Equal(new ProductModelPointsChanged(R5, "EOS-R5", 340, 360, Now), Assert.Single(Assert.Single(plan.Changes).Events));
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 1, 0, 0, 0), plan.Result);
    }

    [Theory]
    [InlineData("EOS R5 (body)", "camera_body")]
    [InlineData("EOS R5", "cinema_camera")]
    [InlineData("eos r5", "camera_body")]
    public void A_different_name_or_category_is_a_description_change(string name, string category)
    {
        var plan = Decide(Row(name: name, category: category), Model());

        Assert.Equal(new ProductModelDescriptionChanged(R5, "EOS-R5", name, category, Now), Assert.Single(Assert.Single(plan.Changes).Events));
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 0, 1, 0, 0), plan.Result);
    }

    [Fact]
    public void Points_and_description_changed_together_give_both_events_counted_in_both()
    {
        var plan = Decide(Row(name: "EOS R5 body", points: 300), Model());

        Assert.Equal([typeof(ProductModelPointsChanged), typeof(ProductModelDescriptionChanged)],
            Assert.Single(plan.Changes).Events.Select(e => e.GetType()));
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 1, 1, 0, 0), plan.Result);
    }

    [Fact]
    public void A_withdrawn_row_withdraws_a_listed_model()
    {
        var plan = Decide(Row(status: CatalogueEntryStatus.Withdrawn), Model());

        Assert.Equal(new ProductModelWithdrawn(R5, "EOS-R5", Now), Assert.Single(Assert.Single(plan.Changes).Events));
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 0, 0, 1, 0), plan.Result);
    }

    [Fact]
    public void A_withdrawn_row_for_a_withdrawn_model_decides_nothing_unless_its_values_differ()
    {
        Assert.Empty(Decide(Row(status: CatalogueEntryStatus.Withdrawn), Model(withdrawn: true)).Changes);

        // The value on record is what a registration made before the withdrawal earns when completed, so it follows the file.
        var changed = Decide(Row(points: 200, status: CatalogueEntryStatus.Withdrawn), Model(withdrawn: true));
        Assert.IsType<ProductModelPointsChanged>(Assert.Single(Assert.Single(changed.Changes).Events));
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 1, 0, 0, 0), changed.Result);
    }

    [Fact]
    public void A_listed_row_relists_a_withdrawn_model_with_the_values_of_the_file()
    {
        var plan = Decide(Row(name: "EOS R5 (relisted)", points: 300), Model(withdrawn: true));

        Assert.Equal(new ProductModelListed(R5, "EOS-R5", "EOS R5 (relisted)", "camera_body", 300, Now),
            Assert.Single(Assert.Single(plan.Changes).Events));
        Assert.Equal(new CatalogueImportResult(1, 0, 1, 0, 0, 0, 0), plan.Result);
    }

    [Fact]
    public void A_withdrawn_row_for_a_new_code_lists_it_and_withdraws_it_so_its_value_is_on_record()
    {
        var plan = Decide(Row(status: CatalogueEntryStatus.Withdrawn));

        Assert.Equal([typeof(ProductModelListed), typeof(ProductModelWithdrawn)], Assert.Single(plan.Changes).Events.Select(e => e.GetType()));
        Assert.Equal(new CatalogueImportResult(1, 1, 0, 0, 0, 1, 0), plan.Result);
    }

    [Fact]
    public void Models_absent_from_the_file_are_left_alone()
    {
        var plan = CatalogueImport.Decide([Row()], [Model(), Model(code: "EF-40-STM", name: "EF 40mm f/2.8 STM", category: "lens", points: 15)], Now);

        Assert.Empty(plan.Changes);
        Assert.Equal(new CatalogueImportResult(1, 0, 0, 0, 0, 0, 1), plan.Result);
    }

    [Fact]
    public void A_mixed_file_counts_each_kind_of_change()
    {
        var rows = new[]
        {
            Row(),                                                                        // unchanged
            Row(code: "NEW-1", name: "New", category: "lens", points: 5),                 // listed
            Row(code: "OLD-1", name: "Old", category: "lens", points: 5),                 // relisted
            Row(code: "PTS-1", name: "Pts", category: "lens", points: 6),                 // points changed
            Row(code: "DSC-1", name: "Renamed", category: "lens", points: 5),             // description changed
            Row(code: "WDR-1", name: "Wdr", category: "lens", points: 5, status: CatalogueEntryStatus.Withdrawn), // withdrawn
        };
        var current = new[]
        {
            Model(),
            Model("OLD-1", "Old", "lens", 5, withdrawn: true),
            Model("PTS-1", "Pts", "lens", 5),
            Model("DSC-1", "Described", "lens", 5),
            Model("WDR-1", "Wdr", "lens", 5),
        };

        var plan = CatalogueImport.Decide(rows, current, Now);

        Assert.Equal(new CatalogueImportResult(6, 1, 1, 1, 1, 1, 1), plan.Result);
        Assert.Equal(["NEW-1", "OLD-1", "PTS-1", "DSC-1", "WDR-1"], plan.Changes.Select(c => c.Code));
        Assert.All(plan.Changes.Where(c => c.Code != "NEW-1"), c => Assert.Equal(c.ModelId, c.Current!.Id));
    }
}
