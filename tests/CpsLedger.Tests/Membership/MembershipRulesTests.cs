using System.Reflection;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using JasperFx.Events;
using Wolverine.Marten;

namespace CpsLedger.Tests.Membership;

/// <summary>Eligibility, the invitation policy and membership numbers, without a database.</summary>
public sealed class MembershipRulesTests
{
    private static readonly Guid Account = Guid.NewGuid();
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private static TierTableView Table()
    {
        var defaults = TierTableStream.Defaults(Now);
        return TierTableViewProjection.Create(defaults);
    }

    [Fact]
    public void Every_write_to_a_membership_that_may_be_in_force_takes_the_membership_lock_before_it_reads()
    {
        // A suspension or a settlement appends to the membership stream under its lock: an optimistic write beside it deadlocks
        // (MembershipStream). Joining and resending an invitation write only for an account without a membership in force, which
        // neither ever appends to; the one holder of the row then, recording old membership numbers, takes the account's invitation
        // review lock first, and so do they (before their fetch), so they and it take turns.
        string[] withoutMembership = [nameof(JoinCpsEndpoint), nameof(ResendInvitationEmailEndpoint)];
        var all = typeof(AccountMembership).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .SelectMany(m => m.GetParameters().Select(p => (Method: m, p.ParameterType, Write: p.GetCustomAttribute<WriteAggregateAttribute>())))
            .Where(x => x.Write is not null && (x.ParameterType == typeof(AccountMembership) || x.ParameterType == typeof(IEventStream<AccountMembership>)))
            .ToList();
        var writers = all.Where(x => !withoutMembership.Contains(x.Method.DeclaringType!.Name)).ToList();
        var optimistic = all.Except(writers).ToList();

        Assert.Contains(writers, w => w.Method.DeclaringType == typeof(CancelMembershipEndpoint));
        Assert.All(writers, w => Assert.True(w.Write!.LoadStyle == Wolverine.Marten.ConcurrencyStyle.Exclusive,
            $"{w.Method.DeclaringType!.Name}.{w.Method.Name} fetches the membership optimistically"));
        Assert.Equal(withoutMembership.Order(), optimistic.Select(w => w.Method.DeclaringType!.Name).Order());
        Assert.All(optimistic, w => Assert.True(w.Method.IsDefined(typeof(TakesInvitationReviewLockAttribute), inherit: false),
            $"{w.Method.DeclaringType!.Name}.{w.Method.Name} does not take the invitation review lock"));
    }

    [Fact]
    public void With_2000_points_every_standard_tier_is_eligible_and_there_is_no_next_tier()
    {
        var result = Eligibility.Decide(Account, 2000, 10, Table());
        Assert.All(result.Standard, t => Assert.True(t.Eligible));
        Assert.Null(result.NextStandardTier);
        Assert.Null(result.PointsToNextStandardTier);
        Assert.Equal(1, result.TierTableVersion);
    }

    [Fact]
    public void A_tier_out_of_reach_says_why_with_numbers()
    {
        var result = Eligibility.Decide(Account, 740, 3, Table());
        Assert.True(result.Standard.Single(t => t.Code == "silver").Eligible);
        Assert.Equal("needs 1000 points, has 740", result.Standard.Single(t => t.Code == "gold").WhyNot);
        Assert.Equal(("gold", 260), (result.NextStandardTier, result.PointsToNextStandardTier!.Value));
    }

    [Theory]
    [InlineData(2500, 10, false)]
    [InlineData(2501, 10, true)]
    public void Enterprise_tiers_need_more_than_2500_points(int points, int products, bool eligible)
    {
        var result = Eligibility.Decide(Account, points, products, Table());
        Assert.All(result.Enterprise, t => Assert.Equal(eligible, t.Eligible));
        if (!eligible)
            Assert.Equal("needs more than 2500 points, has 2500", result.Enterprise[0].WhyNot);
    }

    [Fact]
    public void An_enterprise_tier_covers_only_so_many_products()
    {
        var result = Eligibility.Decide(Account, 3000, 31, Table());
        var a = result.Enterprise.Single(t => t.Code == "enterprise_a");
        Assert.False(a.Eligible);
        Assert.Equal("covers 25 products, account has 31", a.WhyNot);
        Assert.True(result.Enterprise.Single(t => t.Code == "enterprise_b").Eligible);

        var both = Eligibility.Decide(Account, 100, 31, Table()).Enterprise.Single(t => t.Code == "enterprise_a");
        Assert.Equal("needs more than 2500 points, has 100; covers 25 products, account has 31", both.WhyNot);
    }

    [Fact]
    public void The_policy_invites_at_500_withdraws_below_it_and_leaves_members_alone()
    {
        var table = Table();
        Assert.Null(InvitationPolicy.Decide(null, Account, 499, table, Guid.NewGuid(), Now));
        var issued = Assert.IsType<InvitationIssued>(InvitationPolicy.Decide(null, Account, 500, table, Guid.NewGuid(), Now));

        var invited = AccountMembership.Create(issued);
        Assert.Null(InvitationPolicy.Decide(invited, Account, 900, table, Guid.NewGuid(), Now));
        var withdrawn = Assert.IsType<InvitationWithdrawn>(InvitationPolicy.Decide(invited, Account, 499, table, Guid.NewGuid(), Now));
        Assert.Equal(issued.InvitationId, withdrawn.InvitationId);

        invited = invited.Apply(new CpsJoined(Account, Guid.NewGuid(), "CPS-000-000-000", "silver", "Silver", TierKind.Standard, 100m, "EUR",
            PaymentMethod.Card, new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1, 500, 1, Now));
        Assert.Null(InvitationPolicy.Decide(invited, Account, 10, table, Guid.NewGuid(), Now));
        // Past the term's last day, until its end is recorded (the renewal may still come): no invitation beside it.
        Assert.Null(InvitationPolicy.Decide(invited, Account, 600, table, Guid.NewGuid(), Now.AddYears(1)));
        // Once it has lapsed, the account is reviewed like any other.
        var lapsed = invited.Apply(new MembershipLapsed(Account, invited.Membership!.MembershipId, "CPS-000-000-000", LapseReason.NoCardOnFile,
            new DateOnly(2027, 11, 24), [], Now.AddYears(1)));
        Assert.IsType<InvitationIssued>(InvitationPolicy.Decide(lapsed, Account, 600, table, Guid.NewGuid(), Now.AddYears(1)));
    }

    [Fact]
    public void Joining_waits_while_a_past_terms_end_is_still_to_be_recorded()
    {
        var table = Table();
        var issued = (InvitationIssued)InvitationPolicy.Decide(null, Account, 600, table, Guid.NewGuid(), Now)!;
        var member = AccountMembership.Create(issued).Apply(new CpsJoined(Account, Guid.NewGuid(), "CPS-000-000-000", "silver", "Silver",
            TierKind.Standard, 100m, "EUR", PaymentMethod.Card, new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1, 600, 1, Now));
        var context = new JoiningContext(table, Eligibility.Decide(Account, 600, 1, table), "CPS-111-111-116");
        var problem = JoinCpsEndpoint.Validate(member, context, new JoinCps("silver", PaymentMethod.Card),
            new Harness.FixedClock(new DateTimeOffset(2027, 11, 25, 0, 0, 5, TimeSpan.Zero)));
        Assert.Equal((409, "Term end not recorded yet"), (problem.Status, problem.Title));
    }

    /// <summary>A tier table whose invitation threshold is 1,000 points (Silver still 500), and an account invited at 1,000.</summary>
    private static (TierTableView Table, AccountMembership Invited) InvitedUnderAThousandPointThreshold()
    {
        var table = Table();
        table.InvitationThreshold = 1000;
        return (table, AccountMembership.Create((InvitationIssued)InvitationPolicy.Decide(null, Account, 1000, table, Guid.NewGuid(), Now)!));
    }

    // The invitation stands in the stream until the review after a lowering commit withdraws it. A QA pass joined Silver (500
    // points) in between, at 600 points under a threshold of 1,000: an invitation the rules had already ended.
    [Fact]
    public void Joining_is_refused_while_an_invitation_the_points_no_longer_reach_still_stands()
    {
        var (table, invited) = InvitedUnderAThousandPointThreshold();
        var clock = new Harness.FixedClock(Now);

        var below = JoinCpsEndpoint.Validate(invited, new JoiningContext(table, Eligibility.Decide(Account, 600, 1, table), "CPS-111-111-116"),
            new JoinCps("silver", PaymentMethod.Card), clock);
        var reached = JoinCpsEndpoint.Validate(invited, new JoiningContext(table, Eligibility.Decide(Account, 1000, 1, table), "CPS-111-111-116"),
            new JoinCps("silver", PaymentMethod.Card), clock);

        Assert.Equal((409, "Not invited"), (below.Status, below.Title));
        Assert.Contains("at least 1000 allocated points; it has 600 now", below.Detail);
        Assert.Same(Wolverine.Http.WolverineContinue.NoProblems, reached);
    }

    // The invitation is issued by the review after the commit that raised the points. A QA pass joined right after registering a
    // 1,300-point product and was told "it needs 500 allocated points and has 1300": a refusal that contradicted itself.
    [Fact]
    public void Joining_before_the_invitation_the_points_reached_is_recorded_is_told_it_is_being_issued()
    {
        var table = Table();
        var problem = JoinCpsEndpoint.Validate(null, new JoiningContext(table, Eligibility.Decide(Account, 1300, 1, table), ""),
            new JoinCps("silver", PaymentMethod.Card), new Harness.FixedClock(Now));

        Assert.Equal((409, "Not invited"), (problem.Status, problem.Title));
        Assert.DoesNotContain("needs 500 allocated points and has 1300", problem.Detail);
        Assert.Contains("1300 allocated points, at least the 500 an invitation needs: the invitation is being issued", problem.Detail);

        var below = JoinCpsEndpoint.Validate(null, new JoiningContext(table, Eligibility.Decide(Account, 499, 1, table), ""),
            new JoinCps("silver", PaymentMethod.Card), new Harness.FixedClock(Now));
        Assert.Contains("it needs 500 allocated points and has 499", below.Detail);
    }

    [Fact]
    public void Support_cannot_resend_an_invitation_the_points_no_longer_reach()
    {
        var (table, invited) = InvitedUnderAThousandPointThreshold();

        var below = Api.Support.ResendInvitationEmailEndpoint.Validate(invited, new Api.Support.ResendingContext(600, table));
        var reached = Api.Support.ResendInvitationEmailEndpoint.Validate(invited, new Api.Support.ResendingContext(1000, table));

        Assert.Equal((409, "No standing invitation"), (below.Status, below.Title));
        Assert.Contains("at least 1000 allocated points; it has 600 now", below.Detail);
        Assert.Same(Wolverine.Http.WolverineContinue.NoProblems, reached);
    }

    [Fact]
    public void Lowering_the_points_takes_the_invitation_review_lock_that_joining_takes()
    {
        // Joining decides on the points; the writers that lower them take the lock a join holds from its first read to its commit.
        Assert.True(typeof(Api.Products.DeregisterProductEndpoint).GetMethod(nameof(Api.Products.DeregisterProductEndpoint.Post))!
            .IsDefined(typeof(TakesInvitationReviewLockAttribute), inherit: false));
        Assert.True(typeof(Api.Support.AdjustPointsEndpoint).GetMethod(nameof(Api.Support.AdjustPointsEndpoint.Post))!
            .IsDefined(typeof(TakesInvitationReviewLockAttribute), inherit: false));
    }

    [Fact]
    public void Membership_numbers_are_readable_checked_and_unique_for_every_sequence_value()
    {
        Assert.Matches("^CPS-[0-9]{3}-[0-9]{3}-[0-9]{3}$", MembershipNumbers.FromSequence(1));
        Assert.True(MembershipNumbers.IsWellFormed(MembershipNumbers.FromSequence(1)));

        var seen = new HashSet<string>();
        for (long n = 1; n <= 200_000; n++)
            Assert.True(seen.Add(MembershipNumbers.FromSequence(n)));
        // Consecutive joiners do not get consecutive numbers.
        Assert.NotEqual(MembershipNumbers.FromSequence(1)[..7], MembershipNumbers.FromSequence(2)[..7]);
    }

    [Fact]
    public void A_mistyped_digit_or_a_swap_of_neighbours_is_caught_by_the_check_digit()
    {
        var number = MembershipNumbers.FromSequence(42);
        var digits = number.Replace("CPS-", "").Replace("-", "").ToCharArray();
        var typo = (char[])digits.Clone();
        typo[2] = typo[2] == '9' ? '0' : (char)(typo[2] + 1);
        Assert.False(MembershipNumbers.IsWellFormed(Format(typo)));

        var swapped = (char[])digits.Clone();
        var i = Enumerable.Range(0, 7).First(k => swapped[k] != swapped[k + 1] && !(swapped[k] is '0' or '9' && swapped[k + 1] is '0' or '9'));
        (swapped[i], swapped[i + 1]) = (swapped[i + 1], swapped[i]);
        Assert.False(MembershipNumbers.IsWellFormed(Format(swapped)));

        static string Format(char[] d) => $"CPS-{new string(d, 0, 3)}-{new string(d, 3, 3)}-{new string(d, 6, 3)}";
    }
}
