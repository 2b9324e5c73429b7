namespace CpsLedger.Api.Catalogue;

/// <summary>A product category: its code (snake_case, as files and the API write it) and a name for people.</summary>
public sealed record CatalogueCategory(string Code, string Name);

/// <summary>
/// The fixed set of categories a product model belongs to. A fixed set (not free text) so that browsing by category
/// finds every model of it; adding one is a code change reviewed like any rule.
/// </summary>
public static class CatalogueCategories
{
    public static readonly IReadOnlyList<CatalogueCategory> All =
    [
        new("camera_body", "Camera bodies (EOS)"),
        new("lens", "Lenses (RF, EF, EF-S)"),
        new("cinema_camera", "Cinema cameras (Cinema EOS)"),
        new("cinema_lens", "Cinema lenses (CN-E, Sumire)"),
        new("camcorder", "Professional camcorders (XF, XA)"),
        new("ptz_camera", "Remote PTZ cameras (CR-N)"),
        new("flash", "Flashes and transmitters (Speedlite)"),
        new("printer", "Photo printers (imagePROGRAF)"),
        new("projector", "Projectors (XEED)"),
        new("scanner", "Scanners"),
        new("accessory", "Accessories (grips, extenders, adapters)"),
    ];

    /// <summary>The codes, in the order of <see cref="All"/>: what a file's category and the browse's <c>category</c> take.</summary>
    public static readonly IReadOnlyList<string> Codes = [.. All.Select(c => c.Code)];

    /// <summary>The set's component in the OpenAPI document: the browse's filter and every member holding a code refer to it.</summary>
    public const string Schema = "CatalogueCategoryCode";

    public const string SchemaDescription = "A product category's code, one of the fixed set GET /api/catalogue/categories lists.";

    private static readonly HashSet<string> Known = [.. Codes];

    public static bool IsKnown(string code) => Known.Contains(code);

    /// <summary>The codes as a message lists them: "camera_body, lens, ...".</summary>
    public static string Listed => string.Join(", ", All.Select(c => c.Code));
}
