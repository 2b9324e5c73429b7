using Microsoft.AspNetCore.Http.HttpResults;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using CpsLedger.Api.Platform;
using Marten;
using Marten.Pagination;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Catalogue;

/// <summary>A model as the catalogue list shows it (the full model, with its points history, is one GET away).</summary>
/// <param name="Code">The model code products are registered with.</param>
/// <param name="Name">The model's name.</param>
/// <param name="Category">The model's category code.</param>
/// <param name="Points">The points a registration earns now.</param>
/// <param name="Withdrawn">True when no longer listed (cannot be registered).</param>
/// <param name="CatalogueVersion">The model's catalogue version, which a points allocation records.</param>
public sealed record CatalogueModel(
    string Code,
    string Name,
    [property: OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
        SchemaDescription = CatalogueCategories.SchemaDescription)] string Category,
    int Points,
    bool Withdrawn,
    long CatalogueVersion)
{
    public static CatalogueModel Of(ProductModelView view) =>
        new(view.Code, view.Name, view.Category, view.Points, view.Withdrawn, view.CatalogueVersion);
}

/// <summary>One page of the catalogue; <paramref name="Total"/> counts every model matching the filters.</summary>
/// <param name="Items">The page's models.</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Models per page asked for.</param>
/// <param name="Total">Models matching the filters, on all pages.</param>
public sealed record CataloguePage(IReadOnlyList<CatalogueModel> Items, int Page, int PageSize, long Total);

/// <summary>A category of the fixed set, with how many listed (not withdrawn) models it has.</summary>
/// <param name="Category">The category's code, as the <c>category</c> filter takes it.</param>
/// <param name="Name">The category's name.</param>
/// <param name="ListedModels">Models of the category listed now (withdrawn ones not counted).</param>
public sealed record CatalogueCategorySummary(
    [property: OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
        SchemaDescription = CatalogueCategories.SchemaDescription)] string Category,
    string Name,
    int ListedModels);

public static class BrowseCatalogueEndpoint
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 200;

    /// <summary>
    /// Paging checked from the raw query string: a typed parameter would quietly read "page=abc" as absent. The category is the
    /// request gate's to refuse (its <see cref="OneOfAttribute"/>).
    /// </summary>
    public static ProblemDetails Validate(HttpRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        if (Whole(request, "page") is { } page && page is not (>= 1 and <= Paging.MaxPage))
            errors["page"] = [$"Must be a whole number from 1 to {Paging.MaxPage}."];
        if (Whole(request, "pageSize") is { } size && size is not (>= 1 and <= MaxPageSize))
            errors["pageSize"] = [$"Page size must be a whole number from 1 to {MaxPageSize}."];
        if (request.Query["includeWithdrawn"].ToString() is { Length: > 0 } include && !bool.TryParse(include, out _))
            errors["includeWithdrawn"] = ["includeWithdrawn must be true or false."];

        return errors.Count == 0
            ? WolverineContinue.NoProblems
            : Problems.Invalid(errors);

        // Present and a whole number: the number; present and not one: -1 (invalid for both); absent: null.
        static int? Whole(HttpRequest request, string name) => request.Query[name].ToString() is { Length: > 0 } text
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1
            : null;
    }

    [WolverineGet("/api/catalogue/models", OperationId = "BrowseCatalogue")]
    [Authorize]
    [EndpointSummary("Browse the catalogue: search by code or name, filter by category, by category then name, a page at a time")]
    [ProducesResponseType<CataloguePage>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    public static async Task<CataloguePage> Get(
        [Description("Only models whose code or name contains this text, in any letter case (spaces at either end ignored).")] string? search,
        [Description("Only models of this category, as GET /api/catalogue/categories lists them (exactly, in lower case).")]
        [OneOf(typeof(CatalogueCategories), nameof(CatalogueCategories.Codes), Schema = CatalogueCategories.Schema,
            SchemaDescription = CatalogueCategories.SchemaDescription)] string? category,
        [Description("true: also models withdrawn from the catalogue, which can no longer be registered. Default false.")] bool? includeWithdrawn,
        [Description("The page, from 1 (default 1); a page past the last has no items.")][Range(1, Paging.MaxPage)] int? page,
        [Description("Models per page (default 50).")][Range(1, MaxPageSize)] int? pageSize,
        IQuerySession session, HttpContext http, CancellationToken ct)
    {
        var number = page ?? 1;
        var size = pageSize ?? DefaultPageSize;
        var text = search?.Trim();

        // Names compare without case ("imagePROGRAF" among the I's); the code breaks ties so that pages never overlap.
        var models = await Matching()
            .OrderBy(m => m.Category).ThenBy(m => m.Name.ToLower()).ThenBy(m => m.Code)
            .ToPagedListAsync(number, size, ct);

        // The total comes with the rows of the page; a page past the end has none, so count on its own then.
        var total = models.Count == 0 && number > 1 ? await Matching().CountAsync(ct) : models.TotalItemCount;
        Paging.Links(http, number, size, total);
        return new CataloguePage([.. models.Select(CatalogueModel.Of)], number, size, total);

        IQueryable<ProductModelView> Matching()
        {
            IQueryable<ProductModelView> query = session.Query<ProductModelView>();
            if (includeWithdrawn != true)
                query = query.Where(m => !m.Withdrawn);
            if (!string.IsNullOrWhiteSpace(category))
                query = query.Where(m => m.Category == category);
            if (!string.IsNullOrEmpty(text))
            {
                query = query.Where(m => m.Code.Contains(text, StringComparison.OrdinalIgnoreCase)
                                         || m.Name.Contains(text, StringComparison.OrdinalIgnoreCase));
            }

            return query;
        }
    }
}

public static class GetProductModelEndpoint
{
    [WolverineGet("/api/catalogue/models/{code}", OperationId = "GetProductModel")]
    [Authorize]
    [EndpointSummary("Read one product model by its code, with every points value it has had")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<Results<Ok<ProductModelView>, ProblemHttpResult>> Get(string code, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor(code), ct) is { } model
            ? TypedResults.Ok(model)
            : TypedResults.Problem(Problems.NotFound("Product model not found",
                $"There is no product model with code \"{ProductModelCode.Normalize(code)}\" in the catalogue."));
}

public static class ListCatalogueCategoriesEndpoint
{
    [WolverineGet("/api/catalogue/categories", OperationId = "ListCatalogueCategories")]
    [Authorize]
    [EndpointSummary("The product categories, each with its number of listed models")]
    [ProducesResponseType<IReadOnlyList<CatalogueCategorySummary>>(StatusCodes.Status200OK)]
    public static async Task<IReadOnlyList<CatalogueCategorySummary>> Get(IQuerySession session, CancellationToken ct)
    {
        // The catalogue is reference data of a few thousand models at most: counting their categories here is cheap.
        var listed = await session.Query<ProductModelView>().Where(m => !m.Withdrawn).Select(m => m.Category).ToListAsync(ct);
        var counts = listed.CountBy(c => c).ToDictionary();
        return [.. CatalogueCategories.All.Select(c => new CatalogueCategorySummary(c.Code, c.Name, counts.GetValueOrDefault(c.Code)))];
    }
}
