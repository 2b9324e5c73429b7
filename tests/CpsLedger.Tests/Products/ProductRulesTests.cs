using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Products;

/// <summary>The pure decisions and rules of products and points, without a database.</summary>
public sealed class ProductRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly Guid Account = Guid.NewGuid();

    private static ProductModelView Model(int points = 235, long version = 1) => new()
    {
        Id = ProductModelCode.StreamIdFor("EOS-R5"),
        Code = "EOS-R5",
        Name = "EOS R5",
        Category = "camera_body",
        Points = points,
        CatalogueVersion = version,
    };

    private static RegisterProduct Registration(string? serial = "AB 12", string? dealer = "Photopoint") =>
        new("EOS-R5", serial, new DateOnly(2024, 3, 1), "EE", dealer, null);

    [Theory]
    [InlineData("  ab  12 c ", "ab 12 c", "AB12C")]
    [InlineData("AB12C", "AB12C", "AB12C")]
    [InlineData("ab\t12c", "ab 12c", "AB12C")]
    public void Serials_are_tidied_for_display_and_normalised_for_comparison(string typed, string tidy, string normal)
    {
        Assert.Equal(tidy, SerialNumbers.Tidy(typed));
        Assert.Equal(normal, SerialNumbers.Normalize(typed));
        Assert.Equal($"EOS-R5|{normal}", SerialNumbers.OwnershipKey(" eos-r5", typed));
    }

    [Fact]
    public void Missing_details_are_named_exactly()
    {
        Assert.Equal([MandatoryDetail.SerialNumber, MandatoryDetail.Dealer], new RegistrationDetails(null, new DateOnly(2024, 1, 1), "EE", null).Missing);
        Assert.True(new RegistrationDetails("A", new DateOnly(2024, 1, 1), "EE", "D").IsComplete);
    }

    [Fact]
    public void A_complete_registration_allocates_the_catalogue_value_in_force()
    {
        var events = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account, Registration(), Model(300, 4), RegistrationSource.Registration, Now).Events;
        var allocated = Assert.IsType<PointsAllocated>(events[1]);
        Assert.Equal((300, 4L, "AB 12"), (allocated.Points, allocated.CatalogueVersion, allocated.SerialNumber));
    }

    [Fact]
    public void An_incomplete_registration_allocates_nothing()
    {
        var events = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account, Registration(dealer: null), Model(), RegistrationSource.Registration, Now).Events;
        Assert.IsType<ProductRegistered>(Assert.Single(events));
    }

    [Fact]
    public void Completing_the_last_detail_allocates_once_and_amending_after_that_does_not_again()
    {
        var registration = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account, Registration(dealer: null), Model(), RegistrationSource.Registration, Now).After;
        var completing = AmendProductDetailsEndpoint.Decide(registration, new AmendProductDetails(null, null, null, "Photopoint", null, null), Model(), Now);
        Assert.IsType<PointsAllocated>(completing.Events[1]);
        Assert.Equal(235, completing.After.AllocatedPoints);

        var correcting = AmendProductDetailsEndpoint.Decide(completing.After, new AmendProductDetails(null, null, null, "Foto Koch", null, null), Model(999), Now);
        Assert.IsType<ProductDetailsAmended>(Assert.Single(correcting.Events));
        Assert.Equal(("Foto Koch", 235), (correcting.After.Dealer, correcting.After.AllocatedPoints));
    }

    [Fact]
    public void Amending_with_what_is_already_stored_decides_nothing()
    {
        var registration = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account, Registration(), Model(), RegistrationSource.Registration, Now).After;
        var decision = AmendProductDetailsEndpoint.Decide(registration,
            new AmendProductDetails("ab12", new DateOnly(2024, 3, 1), "EE", " Photopoint ", null, null), Model(), Now);
        Assert.Empty(decision.Events);
        Assert.Same(registration, decision.After);
    }

    [Fact]
    public void A_best_guess_stays_flagged_until_an_exact_value_is_given()
    {
        var registration = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account,
            Registration() with { BestGuesses = [MandatoryDetail.Dealer, MandatoryDetail.PurchaseDate] }, Model(), RegistrationSource.Registration, Now).After;
        var amended = (ProductDetailsAmended)AmendProductDetailsEndpoint.Decide(registration,
            new AmendProductDetails(null, null, null, "Photopoint", null, null), Model(), Now).Events.Single();
        Assert.Equal([MandatoryDetail.PurchaseDate], amended.BestGuesses);
    }

    [Fact]
    public void Deregistration_removes_exactly_the_points_allocated()
    {
        var registration = RegisterProductEndpoint.Decide(Guid.NewGuid(), Account, Registration(), Model(235, 1), RegistrationSource.Registration, Now).After;
        var (events, after) = DeregisterProductEndpoint.Decide(registration, new DeregisterProduct(DeregistrationReason.Lost, " "), Now);
        Assert.Equal((true, null), (after.Deregistered, after.AllocatedPoints));
        var removed = Assert.IsType<PointsRemoved>(events[0]);
        Assert.Equal((235, 1L, "deregistered: lost"), (removed.Points, removed.CatalogueVersion, removed.Reason));
        Assert.Null(Assert.IsType<ProductDeregistered>(events[1]).Note);
    }

    [Fact]
    public void The_purchase_date_may_be_today_anywhere_on_earth_but_not_later()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        var validator = new RegisterProductValidator(clock);
        Assert.True(validator.Validate(Registration() with { PurchaseDate = new DateOnly(2026, 11, 26) }).IsValid);
        Assert.False(validator.Validate(Registration() with { PurchaseDate = new DateOnly(2026, 11, 27) }).IsValid);
    }

    [Fact]
    public void The_summary_counts_registered_products_and_the_account_tick_needs_all_complete()
    {
        ProductView View(int points, bool tick, int missing, bool deregistered = false) => new()
        {
            Points = points,
            GreenTick = tick,
            Deregistered = deregistered,
            MissingDetails = [.. Enumerable.Repeat(MandatoryDetail.Dealer, missing)],
        };

        var summary = AccountPoints.Summarize(Account, [View(235, true, 0), View(0, false, 1), View(0, false, 0, deregistered: true)]);
        Assert.Equal(new AccountSummary(Account, 235, 2, 1, 1, false), summary);
        Assert.False(AccountPoints.Summarize(Account, []).AllPointsAllocated);
        Assert.True(AccountPoints.Summarize(Account, [View(15, true, 0)]).AllPointsAllocated);
    }
}
