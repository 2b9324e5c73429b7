namespace CpsLedger.Api.Platform;

/// <summary>
/// What every paged list accepts as its <c>page</c>. Bounded so that the rows skipped, (page - 1) x pageSize, always fit the
/// database's offset at the largest page size of any list (500); a page past the last one is empty, as any page past the end.
/// </summary>
public static class Paging
{
    public const int MaxPage = 1_000_000;

    /// <summary>
    /// An account's own lists (its products, its invoices, its points explanation's lines): whole, as they always were, unless
    /// <c>page</c> or <c>pageSize</c> is given; then a page of <see cref="AccountListDefaultPageSize"/> unless <c>pageSize</c> says
    /// otherwise, at most <see cref="AccountListMaxPageSize"/>, as the invoice list across accounts and the catalogue take them.
    /// </summary>
    public const int AccountListDefaultPageSize = 50;

    public const int AccountListMaxPageSize = 200;

    /// <summary>The page asked for, or null when neither parameter was given: the whole list, as callers from before paging read it.</summary>
    public static (int Page, int PageSize)? Asked(int? page, int? pageSize) =>
        page is null && pageSize is null ? null : (page ?? 1, pageSize ?? AccountListDefaultPageSize);

    /// <summary>
    /// RFC 8288 links to the pages around this one, as the response's <c>Link</c> header: <c>first</c> and <c>last</c> always,
    /// <c>prev</c> from page 2 on (past the last page: the last page, the nearest one with items), <c>next</c> while a page with
    /// items follows. Each is a relative reference (an absolute path and its query: no scheme or host a proxy could have changed),
    /// the request's own path and query with only <c>page</c> set, every other parameter kept in its order, decoded as the endpoint
    /// read it and percent-encoded again. Called by every endpoint that answers a page, and only when it answers one.
    /// </summary>
    public static void Links(HttpContext http, int page, int pageSize, long total)
    {
        // At least page 1 (an empty list has one, empty); never past the largest page the gate accepts.
        var last = (int)Math.Clamp((total + pageSize - 1) / pageSize, 1, MaxPage);
        var links = new List<string> { Link(http.Request, 1, "first") };
        if (page > 1)
            links.Add(Link(http.Request, Math.Min(page - 1, last), "prev"));
        if (page < last)
            links.Add(Link(http.Request, page + 1, "next"));
        links.Add(Link(http.Request, last, "last"));
        http.Response.Headers.Link = string.Join(", ", links);
    }

    /// <summary>
    /// The links of a page whose list was not counted (<paramref name="total"/> null: finance's invoice list with <c>sums=omit</c>):
    /// <c>first</c>, <c>prev</c> from page 2 on (the page before, the last page being unknown) and <c>next</c> while
    /// <paramref name="hasMore"/>; no <c>last</c>, which only a count would give. Counted, as <see cref="Links(HttpContext, int, int, long)"/>.
    /// </summary>
    public static void Links(HttpContext http, int page, int pageSize, long? total, bool hasMore)
    {
        if (total is { } counted)
        {
            Links(http, page, pageSize, counted);
            return;
        }
        var links = new List<string> { Link(http.Request, 1, "first") };
        if (page > 1)
            links.Add(Link(http.Request, page - 1, "prev"));
        if (hasMore)
            links.Add(Link(http.Request, page + 1, "next"));
        http.Response.Headers.Link = string.Join(", ", links);
    }

    private static string Link(HttpRequest request, int page, string rel)
    {
        var pageSet = false;
        var parameters = new List<string>();
        foreach (var pair in (request.QueryString.Value ?? "").TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=');
            var name = Decoded(at < 0 ? pair : pair[..at]);
            // Model binding reads page in any letter case: so is it replaced.
            if (name.Equals("page", StringComparison.OrdinalIgnoreCase))
            {
                if (!pageSet)
                    parameters.Add($"page={page}");
                pageSet = true;
                continue;
            }
            parameters.Add(at < 0 ? Uri.EscapeDataString(name) : $"{Uri.EscapeDataString(name)}={Uri.EscapeDataString(Decoded(pair[(at + 1)..]))}");
        }
        if (!pageSet)
            parameters.Add($"page={page}");
        return $"<{(request.PathBase + request.Path).ToUriComponent()}?{string.Join('&', parameters)}>; rel=\"{rel}\"";

        // As ASP.NET Core's query reader decodes it: '+' is a space.
        static string Decoded(string text) => Uri.UnescapeDataString(text.Replace('+', ' '));
    }

    /// <summary>One page of rows already in the list's order; a page past the last is empty.</summary>
    public static IReadOnlyList<T> Slice<T>(IReadOnlyList<T> rows, int page, int pageSize)
    {
        var skip = (long)(page - 1) * pageSize;
        return skip >= rows.Count ? [] : [.. rows.Skip((int)skip).Take(pageSize)];
    }
}

/// <summary>
/// On an account's list whose answer is a JSON array: without <c>page</c> and <c>pageSize</c> the 200 is that whole array of
/// <see cref="Item"/> (what it was before the list was paged); with either, the page the endpoint's <c>ProducesResponseType</c>
/// names. The OpenAPI document says so with a <c>oneOf</c> of the two (<c>OpenApi.Responses</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class WholeWithoutPagingAttribute(Type item) : Attribute
{
    public Type Item { get; } = item;
}
