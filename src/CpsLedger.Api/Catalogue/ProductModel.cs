using CpsLedger.Api.Platform;
using Marten.Events.Aggregation;

namespace CpsLedger.Api.Catalogue;

/// <summary>A product model became eligible for points (first listing, or listed again after a withdrawal).</summary>
public sealed record ProductModelListed(
    Guid ModelId,
    string Code,
    string Name,
    string Category,
    int Points,
    DateTimeOffset ListedAt);

/// <summary>A model's points value changed. Not retrospective: points already allocated keep the old value.</summary>
public sealed record ProductModelPointsChanged(Guid ModelId, string Code, int PreviousPoints, int Points, DateTimeOffset ChangedAt);

/// <summary>A model's name or category was corrected; its points value is unaffected.</summary>
public sealed record ProductModelDescriptionChanged(Guid ModelId, string Code, string Name, string Category, DateTimeOffset ChangedAt);

/// <summary>A model can no longer be registered. Existing registrations keep their points.</summary>
public sealed record ProductModelWithdrawn(Guid ModelId, string Code, DateTimeOffset WithdrawnAt);

/// <summary>Product model codes: how they are compared, and the stream each one lives in.</summary>
public static class ProductModelCode
{
    private static readonly Guid Namespace = new("6f1c8a52-3d0e-4b8e-9a57-0c3f2d1b7e41");

    /// <summary>Codes compare trimmed and upper-case ("eos-r5 " is "EOS-R5").</summary>
    public static string Normalize(string code) => code.Trim().ToUpperInvariant();

    /// <summary>
    /// One stream per model, its id derived from the normalised code (a name-based UUID, RFC 9562 version 5), so that
    /// two listings of the same code collide on the stream id in the database instead of creating two models.
    /// </summary>
    public static Guid StreamIdFor(string code) => Platform.DerivedIds.NameBased(Namespace, Normalize(code));
}

/// <summary>
/// A model as the catalogue shows it, and as registrations read it: the points value in force and the catalogue
/// version (the model stream's version) that a points allocation records.
/// </summary>
public sealed class ProductModelView
{
    /// <summary>The model stream's id (derived from the code).</summary>
    public Guid Id { get; set; }
    /// <summary>The model code products are registered with, e.g. "EOS-R5".</summary>
    public string Code { get; set; } = "";
    /// <summary>The model's name.</summary>
    public string Name { get; set; } = "";
    /// <summary>The model's category code (see the categories list).</summary>
    [OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
        SchemaDescription = CatalogueCategories.SchemaDescription)]
    public string Category { get; set; } = "";
    /// <summary>The points a registration of this model earns now.</summary>
    public int Points { get; set; }
    /// <summary>True when the catalogue no longer lists it: it cannot be registered; registered ones keep their points.</summary>
    public bool Withdrawn { get; set; }

    /// <summary>The catalogue version of this model: the number of catalogue events applied to it.</summary>
    public long CatalogueVersion { get; set; }

    /// <summary>When the model was first listed, UTC.</summary>
    public DateTimeOffset ListedAt { get; set; }

    /// <summary>Every points value this model has had, oldest first, with the catalogue version that set it.</summary>
    public List<ProductModelPointsValue> PointsHistory { get; set; } = [];
}

/// <summary>The model with this code, as a query Wolverine can run in the batch of an endpoint's other reads.</summary>
public sealed class ProductModelByCode(string code) : Marten.IBatchQueryPlan<ProductModelView?>, Marten.IQueryPlan<ProductModelView?>
{
    public Task<ProductModelView?> Fetch(Marten.Services.BatchQuerying.IBatchedQuery query) =>
        query.Load<ProductModelView>(ProductModelCode.StreamIdFor(code));

    public Task<ProductModelView?> Fetch(Marten.IQuerySession session, CancellationToken token) =>
        session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor(code), token);
}

/// <summary>One points value a model has had.</summary>
/// <param name="CatalogueVersion">The model's catalogue version that set it.</param>
/// <param name="Points">The points value.</param>
/// <param name="From">When it took effect, UTC.</param>
public sealed record ProductModelPointsValue(long CatalogueVersion, int Points, DateTimeOffset From);

public sealed partial class ProductModelViewProjection : SingleStreamProjection<ProductModelView, Guid>
{
    public static ProductModelView Create(JasperFx.Events.IEvent<ProductModelListed> e) => new()
    {
        Id = e.Data.ModelId,
        Code = e.Data.Code,
        Name = e.Data.Name,
        Category = e.Data.Category,
        Points = e.Data.Points,
        ListedAt = e.Data.ListedAt,
        CatalogueVersion = 1,
        PointsHistory = [new ProductModelPointsValue(1, e.Data.Points, e.Data.ListedAt)],
    };

    public static void Apply(ProductModelView view, ProductModelListed e)
    {
        // Listed again after a withdrawal.
        view.CatalogueVersion++;
        view.Withdrawn = false;
        view.Name = e.Name;
        view.Category = e.Category;
        if (view.Points != e.Points)
            view.PointsHistory.Add(new ProductModelPointsValue(view.CatalogueVersion, e.Points, e.ListedAt));
        view.Points = e.Points;
    }

    public static void Apply(ProductModelView view, ProductModelPointsChanged e)
    {
        view.CatalogueVersion++;
        view.Points = e.Points;
        view.PointsHistory.Add(new ProductModelPointsValue(view.CatalogueVersion, e.Points, e.ChangedAt));
    }

    public static void Apply(ProductModelView view, ProductModelDescriptionChanged e)
    {
        view.CatalogueVersion++;
        view.Name = e.Name;
        view.Category = e.Category;
    }

    public static void Apply(ProductModelView view, ProductModelWithdrawn e)
    {
        view.CatalogueVersion++;
        view.Withdrawn = true;
    }
}
