using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Tracking;

namespace CpsLedger.Tests.Membership;

/// <summary>
/// Invitation reviews are handled in batches (MembershipSetup.BatchReviews): what one batch decides for several accounts, who
/// each decision names as its cause, and what a batch that fails for good leaves behind.
/// </summary>
public sealed class InvitationReviewBatchTests(LedgerApp app) : LedgerTest(app)
{
    /// <summary>An account with 1,000 points whose invitation was withdrawn by hand (as a lost one would be): a review invites it.</summary>
    private async Task<Guid> AccountOwedAnInvitation(string email)
    {
        var account = await App.OpenAccount(email);
        await App.Tracked(() => App.Member(account).Register(account, Products.Products.Complete($"S-{email.Replace("@", "-")}", Billing.Thousand)));
        await using var session = App.Store.LightweightSession();
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(account));
        session.Events.Append(MembershipStream.For(account),
            new InvitationWithdrawn(account, membership!.Invitation!.InvitationId, 1000, 500, App.Clock.GetUtcNow()));
        await session.SaveChangesAsync();
        return account;
    }

    private async Task<IEvent> LatestInvitation(Guid account)
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.FetchStreamAsync(MembershipStream.For(account));
        return events.Last(e => e.Data is InvitationIssued);
    }

    [Fact]
    public async Task One_batch_decides_for_each_account_and_each_invitation_names_the_request_that_set_its_review_off()
    {
        await Billing.ListThousandPointModel(App.Store);
        var first = await AccountOwedAnInvitation("first@example.ee");
        var second = await AccountOwedAnInvitation("second@example.ee");

        // The handler as Wolverine calls it with a batch, on a session of the real store: the first account twice (two points
        // events close together), the second once.
        using var statements = new SentStatements();
        await using (var session = App.Store.LightweightSession())
        using (statements.Enter())
        {
            session.LastModifiedBy = "system:invitation-policy";
            var emails = await ReviewInvitationHandler.Handle(
            [
                new ReviewInvitation(first, new CausedBy("portal-a", "corr-a1")), new ReviewInvitation(second, new CausedBy("portal-b", "corr-b")),
                new ReviewInvitation(first, new CausedBy("portal-a", "corr-a2")),
            ], session, App.Clock, CancellationToken.None);
            await session.SaveChangesAsync();
            Assert.Equal(new[] { first, second }.Order(), emails.OfType<SendInvitationEmail>().Select(e => e.AccountId).Order());
        }

        // Two round trips for the batch: one read of both accounts (membership streams, products, adjustments) and the tier
        // table, and the commit of both invitations.
        Assert.Equal(2, statements.Texts.Count);
        Assert.Contains("mt_doc_tiertableview", statements.Texts[0]);
        Assert.Contains("mt_doc_productview", statements.Texts[0]);

        var a = await LatestInvitation(first);
        var b = await LatestInvitation(second);
        // One invitation each, though the first account was reviewed twice; each names the latest request about its own account.
        Assert.Equal((new CausedBy("portal-a", "corr-a2"), "corr-a2"), (SystemActor.CausedByOf(a), a.CorrelationId));
        Assert.Equal((new CausedBy("portal-b", "corr-b"), "corr-b"), (SystemActor.CausedByOf(b), b.CorrelationId));
        Assert.Equal(("system:invitation-policy", "system:invitation-policy"), (a.UserName, b.UserName));
        Assert.Equal(2, await App.CountEvents("invitation_issued") - 2);
    }

    [Fact]
    public async Task Two_batches_naming_the_same_accounts_in_opposite_orders_commit_one_after_the_other_without_a_deadlock()
    {
        await Billing.ListThousandPointModel(App.Store);
        var (a, b) = (await AccountOwedAnInvitation("a@example.ee"), await AccountOwedAnInvitation("b@example.ee"));
        var (c, d) = (await AccountOwedAnInvitation("c@example.ee"), await AccountOwedAnInvitation("d@example.ee"));

        // Two nodes' batches: A, C, B on one and B, D, A on the other (in the order the reviews arrived). Each commit appends to its
        // accounts' membership streams in turn, locking each stream's row and each account's hash chain. Holding C's and D's chains
        // stopped each commit just after its first account, so that each ran into the other's only once both had locked one (A and
        // B), and PostgreSQL broke the deadlock (40P01) after deadlock_timeout (Marten then retried the commit, which failed its
        // version check). In the accounts' order, one commit waits for the other (or for the holder) and fails the version check of an
        // account both invite (the handler retries, and finds the invitation).
        var (first, second) = (new Commits(), new Commits());
        await using var holder = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await using var held = await ChainLocks.HoldChains(holder, c, d);
        var reviewing = new[] { Review([a, c, b], first), Review([b, d, a], second) };
        await App.UntilCommitsWait(2);
        await held.CommitAsync();

        var failures = (await Task.WhenAll(reviewing)).OfType<Exception>().ToList();
        Assert.DoesNotContain(first.Failures.Concat(second.Failures), ChainLocks.IsDeadlock);
        Assert.IsAssignableFrom<JasperFx.ConcurrencyException>(Assert.Single(failures));
        Assert.Equal(4 + 3, await App.CountEvents("invitation_issued"));
        // Each commit appended to the streams in the accounts' order, whatever order the reviews came in.
        Assert.Equal(new[] { a, b, c }.Order().Select(MembershipStream.For), first.Appended[0]);
        Assert.Equal(new[] { a, b, d }.Order().Select(MembershipStream.For), second.Appended[0]);

        async Task<Exception?> Review(Guid[] accounts, Commits commits)
        {
            await using var session = App.Store.LightweightSession();
            await ReviewInvitationHandler.Handle([.. accounts.Select(id => new ReviewInvitation(id))], session, App.Clock, CancellationToken.None);
            session.Logger = commits;
            return await ChainLocks.FailureOf(() => session.SaveChangesAsync());
        }
    }

    [Fact]
    public async Task Reviews_sent_together_are_all_handled_and_each_account_is_invited_once()
    {
        await Billing.ListThousandPointModel(App.Store);
        var accounts = new List<Guid>();
        for (var i = 0; i < 3; i++)
            accounts.Add(await AccountOwedAnInvitation($"owed{i}@example.ee"));

        var tracked = await App.Tracked(async () =>
        {
            using var scope = App.Services.CreateScope();
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var account in accounts)
            {
                await bus.PublishAsync(new ReviewInvitation(account, new CausedBy("support-anna", $"corr-{account:N}")));
                await bus.PublishAsync(new ReviewInvitation(account, new CausedBy("support-anna", $"corr-{account:N}")));
            }
        });

        // Handled in batches (their sizes add up to the reviews sent), one invitation and one e-mail per account.
        var batches = tracked.AllRecordsInOrder(MessageEventType.MessageSucceeded).Select(r => r.Envelope?.Message)
            .OfType<ReviewInvitation[]>().ToList();
        Assert.Equal(6, batches.Sum(b => b.Length));
        foreach (var account in accounts)
        {
            var invitation = await LatestInvitation(account);
            Assert.Equal(new CausedBy("support-anna", $"corr-{account:N}"), SystemActor.CausedByOf(invitation));
        }
        Assert.Equal(2 * accounts.Count, await App.CountEvents("invitation_issued"));
        Assert.Equal(accounts.Count, tracked.AllRecordsInOrder(MessageEventType.MessageSucceeded).Count(r => r.Envelope?.Message is SendInvitationEmail));
    }

    [Fact]
    public async Task A_batch_that_fails_for_good_leaves_each_review_a_reported_dead_letter_that_replays_once_the_cause_is_fixed()
    {
        await Billing.ListThousandPointModel(App.Store);
        var first = await AccountOwedAnInvitation("first@example.ee");
        var second = await AccountOwedAnInvitation("second@example.ee");
        // A permanent error in every review: the tier table's document is gone.
        TierTableView table;
        await using (var session = App.Store.LightweightSession())
        {
            table = (await session.LoadAsync<TierTableView>(TierTableStream.Id))!;
            session.Delete<TierTableView>(TierTableStream.Id);
            await session.SaveChangesAsync();
        }

        using (var scope = App.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            await bus.PublishAsync(new ReviewInvitation(first, new CausedBy("portal-a", "corr-a")));
            await bus.PublishAsync(new ReviewInvitation(second, new CausedBy("portal-b", "corr-b")));
        }
        var support = App.ClientAs(LedgerRoles.Support);
        IReadOnlyList<Api.Operations.DeadLetter> letters = [];
        await FaultWaits.Until(async () => (letters = (await support.GetAsync("/api/operations/dead-letters")
            .ReadAs<Api.Operations.DeadLetterPage>()).DeadLetters).Count == 2, "both reviews dead-lettered");
        Assert.All(letters, l => Assert.EndsWith(nameof(ReviewInvitation), l.MessageType));
        // Reported as the operator's event every dead letter is. Wolverine runs the report after it has moved the message (the rows
        // can be read first), so the test waits for both reports rather than reading the log once.
        await FaultWaits.Until(() => Task.FromResult(App.Logs.DeadLetteredTypes().Count(t => t == nameof(ReviewInvitation)) == 2),
            () => $"both dead letters reported (reported: {string.Join(", ", App.Logs.DeadLetteredTypes())})");
        Assert.Equal(0, await App.CountEvents("invitation_issued") - 2);

        // Fixed (the table is back), replayed: each account is invited once, naming its own request.
        await using (var session = App.Store.LightweightSession())
        {
            session.Store(table);
            await session.SaveChangesAsync();
        }
        await support.PostJson("/api/operations/dead-letters/replay", new { ids = letters.Select(l => l.Id).ToArray() })
            .ReadAs<Api.Operations.DeadLetterAction>(System.Net.HttpStatusCode.Accepted);
        // Replayed messages go back through the inbox, which the durability agent polls.
        await FaultWaits.Until(async () => await App.CountEvents("invitation_issued") == 4, "both accounts invited again");
        await App.UntilBatchesHandled();
        Assert.Equal(new CausedBy("portal-a", "corr-a"), SystemActor.CausedByOf(await LatestInvitation(first)));
        Assert.Equal(new CausedBy("portal-b", "corr-b"), SystemActor.CausedByOf(await LatestInvitation(second)));
        Assert.Equal(4, await App.CountEvents("invitation_issued"));
    }
}
