using System.Reflection;
using System.Text.Json;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using JasperFx.Events;
using Marten;
using Wolverine;
using Wolverine.Configuration;
using Wolverine.Runtime;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Names the ledger itself as the actor of a message handler's writes (<c>system:&lt;name&gt;</c>). Without it a handler is
/// named after its class (<c>ReviewInvitationHandler</c> -> <c>system:review-invitation</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class SystemActorAttribute(string name) : Attribute
{
    public string Actor { get; } = SystemActor.Prefix + name;
}

/// <summary>
/// A handler that an HTTP endpoint invokes inline for its caller (<c>IMessageBus.InvokeAsync</c>, e.g. a migration batch): what it
/// writes is the caller's doing, so the caller (the relayed user name) stays the actor and <see cref="SystemActorPolicy"/> leaves
/// it alone.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class InvokedForCallerAttribute : Attribute;

/// <summary>Who set off what the ledger did on its own: the originating user and the request's correlation id.</summary>
/// <param name="CorrelationId">The correlation id of the request that set it off (its X-Correlation-Id); null when none was
/// recorded.</param>
public sealed record CausedBy(
    // The history admits neither finance nor the portal; the points lines admit both: "where the route admits" them.
    [property: System.ComponentModel.Description("The person whose request set this off (a token's sub). Support and auditors, and finance where " +
                                                 "the route admits it, read the user name as recorded; the account's member, and the portal " +
                                                 "where the route admits it, read the role staff acted in instead (\"CPS support\", \"CPS " +
                                                 "finance\", \"CPS operations\"), and the member's and the portal's names as they are.")]
    string? User,
    string? CorrelationId,
    [property: System.ComponentModel.Description("The role(s) that person acted in, as recorded when the request was made (comma-separated where the " +
                                                 "route admitted them by more than one, e.g. \"support\", \"finance\", \"operator\"). Null for " +
                                                 "events stored before roles were recorded (2026-12-05).")]
    string? Role);

/// <summary>
/// Events that policies, scheduled and cascaded handlers append are the ledger's own doing: their user name is the system
/// actor (e.g. <c>system:invitation-policy</c>), and the person whose request set them off, with that request's correlation id,
/// travels in the <c>caused_by</c> headers. Events appended by HTTP endpoints keep the caller as the user. Events stored before
/// this existed are left as they are: they show the relayed user name and no <c>caused_by</c>.
/// </summary>
public static class SystemActor
{
    public const string Prefix = "system:";
    public const string CausedByUserHeader = "caused_by";
    public const string CausedByCorrelationHeader = "caused_by_correlation_id";

    /// <summary>The actor of a handler type: its attribute, or a name derived from the class.</summary>
    public static string For(Type handlerType) =>
        handlerType.GetCustomAttribute<SystemActorAttribute>()?.Actor ?? Prefix + Kebab(TrimSuffix(handlerType.Name, "Handler"));

    /// <summary>Called by the generated code of every message handler that writes through a Marten session, before the handler.</summary>
    public static void Stamp(IDocumentSession session, MessageContext context, string actor)
    {
        session.LastModifiedBy = actor;
        // The relayed user (Wolverine's EnableRelayOfUserName) is the person whose request started this chain of messages.
        var user = context.Envelope?.UserName ?? context.UserName;
        if (!string.IsNullOrEmpty(user))
            session.SetHeader(CausedByUserHeader, user);
        if (!string.IsNullOrEmpty(context.CorrelationId))
            session.SetHeader(CausedByCorrelationHeader, context.CorrelationId);
        // The role that person acted in, relayed like the user name; a message sent before roles travelled records none.
        if (ActorRoles.Relayed(context.Envelope) is { } role)
            session.SetHeader(ActorRoles.CausedByHeader, role);
    }

    /// <summary>
    /// Called by the generated code of a handler <see cref="InvokedForCallerAttribute"/> that writes through a Marten session: the
    /// caller stays the actor, so the role their request relayed is the events' own <c>actor_role</c>.
    /// </summary>
    public static void StampInvoked(IDocumentSession session, MessageContext context) =>
        ActorRoles.Record(session, ActorRoles.Relayed(context.Envelope));

    /// <summary>
    /// Called by the generated code of a batch handler (a message type that is an array) that writes through a Marten session: a
    /// batch gathers the messages of several requests, so the handler names each event's cause itself (<see cref="StampCause"/>)
    /// and nothing session-wide may overwrite that.
    /// </summary>
    public static void StampBatch(IDocumentSession session, string actor) => session.LastModifiedBy = actor;

    /// <summary>
    /// For a batch handler: the events appended so far to one stream name the request that set them off, as <see cref="Stamp"/>
    /// does for a whole session. An unknown cause (a message sent before causes travelled in it) writes none.
    /// </summary>
    public static void StampCause(IDocumentSession session, Guid streamId, CausedBy? cause)
    {
        if (cause is null)
            return;
        foreach (var e in session.PendingChanges.Streams().Where(s => s.Id == streamId).SelectMany(s => s.Events))
        {
            if (!string.IsNullOrEmpty(cause.User))
                e.SetHeader(CausedByUserHeader, cause.User);
            if (!string.IsNullOrEmpty(cause.Role))
                e.SetHeader(ActorRoles.CausedByHeader, cause.Role);
            if (!string.IsNullOrEmpty(cause.CorrelationId))
            {
                e.SetHeader(CausedByCorrelationHeader, cause.CorrelationId);
                e.CorrelationId = cause.CorrelationId;
            }
        }
    }

    /// <summary>
    /// Who set off what follows from this event, to carry in a message that is handled in a batch: the person behind a system
    /// actor's event (its <c>caused_by</c>), otherwise its own user and request.
    /// </summary>
    public static CausedBy CauseOf(IEvent e) => CausedByOf(e) ?? new CausedBy(e.UserName, e.CorrelationId, ActorRoles.Of(e));

    /// <summary>The same for what a session is about to write: the cause it was stamped with, otherwise its own user and request.</summary>
    public static CausedBy CauseOf(IDocumentSession session) =>
        session.GetHeader(CausedByUserHeader) is { } user
            ? new CausedBy(user.ToString(), session.GetHeader(CausedByCorrelationHeader)?.ToString(), session.GetHeader(ActorRoles.CausedByHeader)?.ToString())
            : new CausedBy(session.LastModifiedBy, session.CorrelationId, session.GetHeader(ActorRoles.Header)?.ToString());

    /// <summary>What an event says about who set it off; null for an event a person appended (or one stored before this existed).</summary>
    public static CausedBy? CausedByOf(IEvent e)
    {
        var user = Header(e, CausedByUserHeader);
        var correlation = Header(e, CausedByCorrelationHeader);
        return user is null && correlation is null ? null : new CausedBy(user, correlation, ActorRoles.CausedByOf(e));
    }

    /// <summary>A string header of a stored event (headers come back from the database as JSON elements).</summary>
    public static string? Header(IEvent e, string name) =>
        e.Headers?.TryGetValue(name, out var value) == true
            ? value switch
            {
                JsonElement json => json.ValueKind == JsonValueKind.String ? json.GetString() : json.ToString(),
                null => null,
                _ => value.ToString(),
            }
            : null;

    private static string TrimSuffix(string name, string suffix) =>
        name.EndsWith(suffix, StringComparison.Ordinal) && name.Length > suffix.Length ? name[..^suffix.Length] : name;

    private static string Kebab(string name) =>
        System.Text.RegularExpressions.Regex.Replace(name, "(?<=[a-z0-9])(?=[A-Z])", "-").ToLowerInvariant();
}

/// <summary>
/// Adds <see cref="SystemActor.Stamp"/> to every message handler chain that writes through a Marten session (HTTP endpoints
/// are not message handlers, so the caller stays their actor; so do handlers <see cref="InvokedForCallerAttribute"/>, which get
/// <see cref="SystemActor.StampInvoked"/>: the caller's role).
/// </summary>
public sealed class SystemActorPolicy : IHandlerPolicy
{
    public void Apply(IReadOnlyList<HandlerChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains)
        {
            var writer = chain.Handlers.FirstOrDefault(h => WritesThroughMarten(h.HandlerType, h.Method));
            if (writer is null)
                continue;
            if (writer.HandlerType.GetCustomAttribute<InvokedForCallerAttribute>() is not null)
            {
                chain.Middleware.Add(new MethodCall(typeof(SystemActor), nameof(SystemActor.StampInvoked)));
                continue;
            }

            var actor = new Value(SystemActor.For(writer.HandlerType));
            if (chain.MessageType.IsArray)
            {
                var stampBatch = new MethodCall(typeof(SystemActor), nameof(SystemActor.StampBatch));
                stampBatch.Arguments[1] = actor;
                chain.Middleware.Add(stampBatch);
                continue;
            }

            var stamp = new MethodCall(typeof(SystemActor), nameof(SystemActor.Stamp));
            stamp.Arguments[2] = actor;
            chain.Middleware.Add(stamp);
        }
    }

    /// <summary>
    /// Whether a handler method appends or stores through a session: it takes the session or an event stream, returns Marten
    /// side effects, or uses Wolverine's aggregate handler workflow (attributes on the class, the method or a parameter).
    /// </summary>
    public static bool WritesThroughMarten(Type handlerType, MethodInfo method)
    {
        static bool IsMartenWrite(Type t) =>
            t == typeof(IDocumentSession)
            || (t.IsGenericType && t.GetGenericTypeDefinition().FullName == "Marten.Events.IEventStream`1")
            || t.Namespace?.StartsWith("Wolverine.Marten", StringComparison.Ordinal) == true;

        static bool IsAggregateWorkflow(IEnumerable<Attribute> attributes) =>
            attributes.Any(a => a.GetType().Namespace?.StartsWith("Wolverine.Marten", StringComparison.Ordinal) == true
                                && a.GetType().Name.Contains("Aggregate", StringComparison.Ordinal));

        var returned = method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>)
            ? method.ReturnType.GetGenericArguments()[0]
            : method.ReturnType;
        var returnedTypes = returned.FullName?.StartsWith("System.ValueTuple", StringComparison.Ordinal) == true
            ? returned.GetGenericArguments()
            : [returned];

        return method.GetParameters().Any(p => IsMartenWrite(p.ParameterType) || IsAggregateWorkflow(p.GetCustomAttributes()))
               || returnedTypes.Any(t => IsMartenWrite(t) || t.GetInterfaces().Any(IsMartenWrite))
               || IsAggregateWorkflow(method.GetCustomAttributes())
               || IsAggregateWorkflow(handlerType.GetCustomAttributes());
    }
}
