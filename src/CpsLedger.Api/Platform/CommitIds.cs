using JasperFx.Events;
using Marten;
using Marten.Internal.Sessions;
using Marten.Services;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Which commit (transaction) wrote an event: a Guid per save, in the event's <c>commit</c> header. The database keeps no trace
/// of it that lasts: the events of one transaction need not share a timestamp, <c>xmin</c> does not survive a dump and restore,
/// and concurrent transactions interleave their sequence numbers. Time travel needs it to cut between commits
/// (<see cref="Audit.TimeTravel"/>). Events stored before it existed carry none.
/// </summary>
public static class CommitIds
{
    public const string Header = "commit";

    /// <summary>The commit a session's next save writes, drawn on first ask: by a bulk copy before the save, else by the listener.</summary>
    public static Guid Of(IDocumentSession session)
    {
        if (session.GetHeader(Header) is Guid drawn)
            return drawn;
        var id = Guid.CreateVersion7();
        session.SetHeader(Header, id);
        return id;
    }

    /// <summary>The commit that wrote a stored event; null for an event stored before events carried it.</summary>
    public static Guid? Of(IEvent e) => Guid.TryParse(SystemActor.Header(e, Header), out var id) ? id : null;

    /// <summary>After a commit: the session's next save is another transaction, with a commit id of its own.</summary>
    public static void Forget(IDocumentSession session) => (session as QuerySession)?.Headers?.Remove(Header);
}

/// <summary>
/// Stamps every event a session saves with the save's commit id, whoever appended it (endpoints, handlers, the system actor's
/// and the imports' own sessions): the listener sees each save, which is one transaction. Marten reads an event's headers when
/// it writes the append's command, after this runs.
/// </summary>
public sealed class CommitIdListener : DocumentSessionListenerBase
{
    public override Task BeforeSaveChangesAsync(IDocumentSession session, CancellationToken token)
    {
        Stamp(session);
        return Task.CompletedTask;
    }

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        CommitIds.Forget(session);
        return Task.CompletedTask;
    }

    private static void Stamp(IDocumentSession session)
    {
        var id = CommitIds.Of(session);
        foreach (var e in session.PendingChanges.Streams().SelectMany(s => s.Events))
            e.SetHeader(CommitIds.Header, id);
    }
}
