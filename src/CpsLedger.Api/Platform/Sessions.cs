using Marten;
using Marten.Services;

namespace CpsLedger.Api.Platform;

/// <summary>
/// On an endpoint: its Wolverine session keeps an identity map, so a document its batch has loaded is not read again by the
/// inline projection that updates it in the same commit (with <c>UseIdentityMapForAggregates</c>; BENCHMARKS.md, P1).
/// Opt-in per endpoint, because an identity map changes what a session does: a loaded record stored again as a new instance
/// (<c>record with { }</c>, as several handlers do) is refused with "same Id already added to the session".
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ReusesLoadedDocumentsAttribute : Attribute;

/// <summary>
/// The sessions Wolverine opens for handlers and endpoints: lightweight (no identity map, no change tracking), except on an
/// endpoint marked <see cref="ReusesLoadedDocumentsAttribute"/>.
/// </summary>
public sealed class LedgerSessionFactory(IDocumentStore store, IHttpContextAccessor http) : SessionFactoryBase(store)
{
    public override Marten.Services.SessionOptions BuildOptions() => new()
    {
        Tracking = http.HttpContext?.GetEndpoint()?.Metadata.GetMetadata<ReusesLoadedDocumentsAttribute>() is null
            ? DocumentTracking.None
            : DocumentTracking.IdentityOnly,
    };
}
