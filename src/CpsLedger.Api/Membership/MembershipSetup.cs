using CpsLedger.Api.Platform;
using JasperFx.Events.Projections;
using Marten;
using Weasel.Postgresql;
using Wolverine;
using Wolverine.Marten;

namespace CpsLedger.Api.Membership;

public static class MembershipSetup
{
    public static void AddMembership(this StoreOptions opts)
    {
        // Inline: the membership endpoint and the next review read it in the same breath as the write.
        opts.Projections.Snapshot<AccountMembership>(SnapshotLifecycle.Inline);
        opts.Schema.For<MembershipNumberClaim>().Duplicate(x => x.AccountId);
        // The sequence behind membership numbers lives with the ledger's tables, so db-patch writes it into the migrations.
        opts.Storage.ExtendedSchemaObjects.Add(new Sequence(new PostgresqlObjectName(opts.DatabaseSchemaName, MembershipNumbers.SequenceName,
            SchemaUtils.IdentifierUsage.General)));
    }

    /// <summary>
    /// Reviews are handled in batches: every review waiting when the first is a tenth of a second old (or a hundred of them), in
    /// one read, one commit and one update of the inbox (an account reviewed twice in a batch is read and decided once). Each
    /// stays in the inbox until its batch has committed. A batch that fails is handled by the service's error policy as a whole:
    /// retried (reviewing again is harmless), and on a permanent error its reviews become reported dead letters, each of its own,
    /// to replay. Wolverine's member-by-member probing (<c>ProbeIndividuallyAfter</c>) is not used: the dead letters it makes
    /// bypass that policy's report (<see cref="DeadLetterAlarm"/>). One batch at a time per node keeps contention low; the
    /// stream version check keeps it exact across nodes.
    /// </summary>
    public static void BatchReviews(this WolverineOptions opts) =>
        opts.BatchMessagesOf<ReviewInvitation>(batching =>
        {
            batching.BatchSize = 100;
            batching.TriggerTime = TimeSpan.FromMilliseconds(100);
        }).Sequential();

    /// <summary>
    /// Every points event, once committed, asks for the account's invitation to be reviewed (durably, via the outbox); a new tier
    /// table asks for the reviews of the accounts its threshold may concern.
    /// </summary>
    public static void ForwardPointsEventsToInvitationPolicy(this MartenIntegration integration)
    {
        // Events are handed to Wolverine's outbox in the appending transaction (no ordering between accounts is needed:
        // each review reads the account's committed state).
        integration.UseFastEventForwarding = true;
        integration.SubscribeToEvent<Products.PointsAllocated>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId, SystemActor.CauseOf(e)));
        integration.SubscribeToEvent<Products.PointsRemoved>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId, SystemActor.CauseOf(e)));
        integration.SubscribeToEvent<Support.PointsAdjusted>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId, SystemActor.CauseOf(e)));
        // A new invitation threshold concerns accounts whose points did not change.
        integration.SubscribeToEvent<Tiers.TierTablePublished>().TransformedTo(e => new ReviewInvitationsForTierTable(e.Version, SystemActor.CauseOf(e)));
    }
}
