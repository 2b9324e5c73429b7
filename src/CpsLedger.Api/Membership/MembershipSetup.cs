using JasperFx.Events.Projections;
using Marten;
using Weasel.Postgresql;
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

    /// <summary>Every points event, once committed, asks for the account's invitation to be reviewed (durably, via the outbox).</summary>
    public static void ForwardPointsEventsToInvitationPolicy(this MartenIntegration integration)
    {
        // Events are handed to Wolverine's outbox in the appending transaction (no ordering between accounts is needed:
        // each review reads the account's committed state).
        integration.UseFastEventForwarding = true;
        integration.SubscribeToEvent<Products.PointsAllocated>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId));
        integration.SubscribeToEvent<Products.PointsRemoved>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId));
        integration.SubscribeToEvent<Support.PointsAdjusted>().TransformedTo(e => new ReviewInvitation(e.Data.AccountId));
    }
}
