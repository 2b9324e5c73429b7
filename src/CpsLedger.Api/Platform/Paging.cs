namespace CpsLedger.Api.Platform;

/// <summary>
/// What every paged list accepts as its <c>page</c>. Bounded so that the rows skipped, (page - 1) x pageSize, always fit the
/// database's offset at the largest page size of any list (500); a page past the last one is empty, as any page past the end.
/// </summary>
public static class Paging
{
    public const int MaxPage = 1_000_000;
}
