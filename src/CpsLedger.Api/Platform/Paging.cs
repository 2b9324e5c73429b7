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
