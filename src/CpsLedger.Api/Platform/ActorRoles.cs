using System.Runtime.CompilerServices;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Runtime;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The role in which a person acted, recorded at write time (docs/security.md, "Who and why"): <c>actor_role</c> on every event a
/// person's request writes, <c>caused_by_role</c> on what the ledger wrote because of it. Readers tell staff apart by it
/// (<see cref="Support.StaffNames"/>); events stored before 2026-12-05 carry neither.
/// </summary>
public static class ActorRoles
{
    /// <summary>On an event a person's request (or an operator's command) wrote: the role(s) they acted in.</summary>
    public const string Header = "actor_role";

    /// <summary>On an event the ledger wrote because of a request, and on every message that request set off: that request's role(s).</summary>
    public const string CausedByHeader = "caused_by_role";

    /// <summary>Someone running the service's own commands on the command line (the legacy and the catalogue import).</summary>
    public const string Operator = "operator";

    /// <summary>
    /// <b>Decision</b> (docs/security.md, "Who and why"): the roles the caller holds that the route admits, in
    /// <see cref="LedgerRoles.All"/>'s order, comma-separated; all of them when more than one, never one picked from several, and
    /// never a role the route did not admit the caller by. A route whose <c>[Authorize]</c> names no roles admits every role.
    /// Null when the caller holds none of them (which authorization does not let through).
    /// </summary>
    /// <param name="held">The caller's roles, as authorization sees them.</param>
    /// <param name="route">The route's authorization data: each entry naming roles admits one of them, and all entries must pass.</param>
    public static string? Decide(IEnumerable<string> held, IEnumerable<IAuthorizeData> route)
    {
        IEnumerable<string> admitted = LedgerRoles.All;
        foreach (var roles in route.Select(a => a.Roles).Where(r => !string.IsNullOrWhiteSpace(r)))
        {
            var named = roles!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            admitted = admitted.Intersect(named, StringComparer.Ordinal);
        }

        var holds = held.ToHashSet(StringComparer.Ordinal);
        var acting = admitted.Where(holds.Contains).ToList();
        return acting.Count == 0 ? null : string.Join(',', acting);
    }

    /// <summary>The role(s) the caller of the current request acts in (<see cref="Decide"/>): held as <c>IsInRole</c> sees them,
    /// a bearer token's role claims or the console session's.</summary>
    public static string? Of(HttpContext http) =>
        Decide(LedgerRoles.All.Where(http.User.IsInRole),
            http.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>() ?? []);

    // The request each HTTP message context serves: the role its messages relay (ActorRoleRelay). Keyed weakly, so a context
    // and its entry go when the request is done.
    private static readonly ConditionalWeakTable<IMessageContext, string> Requests = new();

    /// <summary>
    /// Before every endpoint that commits through Wolverine's session (<see cref="ActorRolePolicy"/>): the caller's role on every
    /// event the request writes, and in every message it sends.
    /// </summary>
    public static void Stamp(HttpContext httpContext, MessageContext messageContext, IDocumentSession session)
    {
        if (Remember(httpContext, messageContext) is { } role)
            session.SetHeader(Header, role);
    }

    /// <summary>For an endpoint that sends messages but writes through no session of Wolverine's: the role its messages relay.</summary>
    public static void Relay(HttpContext httpContext, MessageContext messageContext) => Remember(httpContext, messageContext);

    /// <summary>The role the request's own sessions record (an endpoint that opens them itself), as its messages relay it.</summary>
    public static string? OfRequest(IMessageContext messageContext) => Requests.TryGetValue(messageContext, out var role) ? role : null;

    private static string? Remember(HttpContext httpContext, IMessageContext messageContext)
    {
        var role = Of(httpContext);
        if (role is not null)
            Requests.AddOrUpdate(messageContext, role);
        return role;
    }

    /// <summary>For a session an endpoint opens itself (the legacy import's batches): the caller's role on its events.</summary>
    public static void Record(IDocumentSession session, string? role)
    {
        if (role is not null)
            session.SetHeader(Header, role);
    }

    /// <summary>
    /// For a message an endpoint invokes inline (<c>IMessageBus.InvokeAsync</c>): Wolverine 6.62 and 6.64.2 apply their envelope rules
    /// (<see cref="ActorRoleRelay"/>) to messages it sends, not to those it invokes, so the request's role goes in the delivery
    /// options, as a header of the message's envelope.
    /// </summary>
    public static DeliveryOptions Inline(IMessageBus bus)
    {
        var options = new DeliveryOptions();
        if (bus is IMessageContext request && OfRequest(request) is { } role)
            options.Headers[CausedByHeader] = role;
        return options;
    }

    /// <summary>The role a message carries from the request that set it off: null for one sent before roles travelled.</summary>
    public static string? Relayed(Envelope? envelope) =>
        envelope?.Headers.TryGetValue(CausedByHeader, out var role) == true && !string.IsNullOrEmpty(role) ? role : null;

    /// <summary>The role a message context's outgoing messages carry: the request's, or the one its own message relayed.</summary>
    public static string? RelayedBy(IMessageContext context) =>
        Relayed(context.Envelope) ?? OfRequest(context);

    /// <summary>The role(s) recorded on an event a person wrote; null for the ledger's own and for events stored before roles were.</summary>
    public static string? Of(IEvent e) => SystemActor.Header(e, Header);

    /// <summary>The role(s) of the request that set off what the ledger wrote; null where none was recorded.</summary>
    public static string? CausedByOf(IEvent e) => SystemActor.Header(e, CausedByHeader);

    /// <summary>An operator's command-line session: the user it records and the operator's role on every event it writes.</summary>
    public static void StampOperator(IDocumentSession session, string user)
    {
        session.LastModifiedBy = user;
        session.SetHeader(Header, Operator);
    }

    /// <summary>The roles a recorded value names.</summary>
    public static IReadOnlyList<string> Split(string? recorded) =>
        recorded?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
}

/// <summary>
/// Puts <see cref="ActorRoles.Stamp"/> before every endpoint that commits through Wolverine's session, and
/// <see cref="ActorRoles.Relay"/> before every other command that takes the message bus (one that sends or invokes messages, or
/// opens sessions of its own): what a request writes and sets off names the role its caller acted in.
/// </summary>
public sealed class ActorRolePolicy : IHttpPolicy
{
    /// <summary>The frame Wolverine.Marten adds to a chain that commits its session; internal there, so known by name (a test holds it).</summary>
    internal const string SaveChangesFrame = "Wolverine.Marten.Persistence.Sagas.DocumentSessionSaveChanges";

    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains.Where(c => c.HttpMethods.Any(m => m != HttpMethods.Get)))
        {
            if (chain.Postprocessors.Any(f => f.GetType().FullName == SaveChangesFrame))
                chain.Middleware.Insert(0, new MethodCall(typeof(ActorRoles), nameof(ActorRoles.Stamp)));
            // Only where the endpoint sends or invokes messages itself: others need no message context made for them.
            else if (chain.Method.Method.GetParameters().Any(p => p.ParameterType == typeof(IMessageBus) || p.ParameterType == typeof(IMessageContext)))
                chain.Middleware.Insert(0, new MethodCall(typeof(ActorRoles), nameof(ActorRoles.Relay)));
        }
    }
}

/// <summary>
/// Every message sent carries the role of the request that set it off (<c>caused_by_role</c>), as Wolverine relays the user name:
/// from an endpoint, the caller's; from a handler, the one its own message carried (none when that carried none).
/// </summary>
public sealed class ActorRoleRelay : IEnvelopeRule
{
    public void Modify(Envelope envelope)
    {
    }

    public void ApplyCorrelation(IMessageContext originator, Envelope outgoing)
    {
        if (ActorRoles.RelayedBy(originator) is { } role)
            outgoing.Headers[ActorRoles.CausedByHeader] = role;
    }
}
