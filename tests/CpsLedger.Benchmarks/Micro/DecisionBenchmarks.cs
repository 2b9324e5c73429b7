using BenchmarkDotNet.Attributes;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using JasperFx.Events;

namespace CpsLedger.Benchmarks.Micro;

/// <summary>The pure decision functions a command runs, without the database or HTTP.</summary>
[MemoryDiagnoser]
public class DecisionBenchmarks
{
    private readonly Guid _account = Guid.CreateVersion7();
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;
    private readonly ProductModelView _model = new() { Id = Guid.CreateVersion7(), Code = "EOS-R5", Name = "EOS R5", Category = "camera_body", Points = 340, CatalogueVersion = 3 };
    private readonly RegisterProduct _complete = new("EOS-R5", "0123 4567", new DateOnly(2024, 3, 1), "EE", "Photopoint", [MandatoryDetail.PurchaseDate]);
    private readonly AmendProductDetails _amend = new(null, null, null, "Photopoint", null, null);
    private ProductRegistration _waiting = null!;
    private TierTableView _table = null!;

    [GlobalSetup]
    public void Setup()
    {
        var registered = new ProductRegistered(Guid.CreateVersion7(), _account, "EOS-R5", "EOS R5", "camera_body", "0123 4567",
            new DateOnly(2024, 3, 1), "EE", null, [], RegistrationSource.Registration, _now);
        _waiting = ProductRegistration.Create(registered);
        _table = TierTableViewProjection.Create(TierTableStream.Defaults(_now));
    }

    [Benchmark]
    public RegistrationDecision RegisterProduct_Decide() =>
        RegisterProductEndpoint.Decide(Guid.CreateVersion7(), _account, _complete, _model, RegistrationSource.Registration, _now);

    [Benchmark]
    public RegistrationDecision AmendProductDetails_Decide() => AmendProductDetailsEndpoint.Decide(_waiting, _amend, _model, _now);

    [Benchmark]
    public EligibleTiers Eligibility_Decide() => Eligibility.Decide(_account, 1_250, 12, _table);

    [Benchmark]
    public string SerialNumbers_Normalize() => SerialNumbers.Normalize("  ab 12 34 / x-9  ");

    [Benchmark]
    public string SerialNumbers_Tidy() => SerialNumbers.Tidy("  ab   12 34 / x-9  ");
}

/// <summary>The account summary and points explanation over an account's product views (the read path's pure part).</summary>
[MemoryDiagnoser]
public class AccountPointsBenchmarks
{
    private readonly Guid _account = Guid.CreateVersion7();
    private List<ProductView> _products = [];

    [Params(3, 50)]
    public int Products { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var now = DateTimeOffset.UtcNow;
        _products = Enumerable.Range(0, Products).Select(i =>
        {
            var id = Guid.CreateVersion7();
            var view = ProductViewProjection.Create(new ProductRegistered(id, _account, "EOS-R5", "EOS R5", "camera_body", $"SN{i}",
                new DateOnly(2024, 3, 1), "EE", i % 4 == 0 ? null : "Photopoint", [], RegistrationSource.Registration, now.AddMinutes(i)));
            if (i % 4 != 0)
                ProductViewProjection.Apply(view, new Event<PointsAllocated>(new PointsAllocated(id, _account, "EOS-R5", $"SN{i}", 340, 3, now.AddMinutes(i)))
                { Id = Guid.CreateVersion7(), UserName = "bench" });
            return view;
        }).ToList();
    }

    [Benchmark]
    public AccountSummary Summarize() => AccountPoints.Summarize(_account, _products);

    [Benchmark]
    public PointsExplanation Explain() => AccountPoints.Explain(_account, _products);
}
