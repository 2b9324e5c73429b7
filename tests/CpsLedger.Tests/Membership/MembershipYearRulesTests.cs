using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Membership;

/// <summary>The membership year's decisions as pure functions: pre-selection, the term end, the pro-rata rule.</summary>
public sealed class MembershipYearRulesTests
{
    private static readonly DateTimeOffset Now = new(2027, 11, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly Guid Account = Guid.Parse("0190a000-0000-7000-8000-000000000001");
    private static readonly TierTableView Table = TierTableViewProjection.Create(TierTableStream.Defaults(Now));

    private static EligibleTiers At(int points, int products = 2) => Eligibility.Decide(Account, points, products, Table);

    private static AccountMembership Member(PaymentMethod method, string tier = "gold", decimal fee = 200m)
    {
        var joined = new CpsJoined(Account, Guid.Parse("0190a000-0000-7000-8000-0000000000aa"), "CPS-482-173-905", tier, tier, TierKind.Standard, fee,
            "EUR", method, new DateOnly(2026, 12, 2), new DateOnly(2027, 12, 1), 1, 1000, 1, Now.AddYears(-1));
        return new AccountMembership { Id = MembershipStream.For(Account), AccountId = Account }.Apply(joined);
    }

    [Theory]
    [InlineData(1200, "gold", "gold")] // still eligible: kept
    [InlineData(700, "gold", "silver")] // no longer: the highest eligible of its kind
    [InlineData(2000, "gold", "gold")] // more points do not move the member up by themselves
    [InlineData(400, "gold", null)] // below the threshold: nothing to offer
    public void The_offer_preselects_the_current_tier_while_eligible_else_the_highest_eligible(int points, string current, string? expected) =>
        Assert.Equal(expected, RenewalDecision.Preselect(At(points), null, Member(PaymentMethod.Card, current).Membership!)?.Code);

    [Theory]
    [InlineData(2000, "silver", "platinum", "platinum")] // the member's choice, while eligible
    [InlineData(1200, "silver", "platinum", "silver")] // the choice out of reach: the current tier, not the highest eligible (gold)
    [InlineData(1200, "platinum", "platinum", "gold")] // neither: the highest eligible of the current tier's kind
    [InlineData(400, "silver", "gold", null)] // below the threshold: nothing
    public void The_members_choice_comes_first_then_the_current_tier_then_the_highest_eligible(int points, string current, string chosen,
        string? expected) =>
        Assert.Equal(expected, RenewalDecision.Preselect(At(points), chosen, Member(PaymentMethod.Card, current).Membership!)?.Code);

    [Fact]
    public void A_renewal_choice_no_longer_eligible_falls_back_to_the_current_tier_in_the_offer_and_at_the_term_end()
    {
        // Silver, and Platinum chosen for the renewal with 2000 points; then the points fell to 1200: Silver and Gold are eligible.
        var membership = Member(PaymentMethod.Card, "silver", 100m);
        var term = membership.Membership!;
        var chose = membership.Apply(new RenewalTierChosen(Account, term.MembershipId, RenewalTerms.RenewalOf(term.MembershipId), "platinum", "Platinum",
            TierKind.Standard, 350m, "EUR", 1, 2000, 2, null, Now.AddDays(-10)));
        Assert.Equal("silver", RenewalDecision.Offer(chose, term.MembershipId, At(1200), Now)!.OfferedTier);
        Assert.Equal("silver", RenewalDecision.End(chose, new TermEndInputs(At(1200), true, null), Now).Renewed!.TierCode);
        Assert.Equal("platinum", RenewalDecision.End(chose, new TermEndInputs(At(2000), true, null), Now).Renewed!.TierCode);
    }

    [Fact]
    public void A_bank_transfer_offer_names_its_renewal_invoice_and_a_second_offer_of_the_term_is_nothing()
    {
        var membership = Member(PaymentMethod.BankTransfer);
        var offer = RenewalDecision.Offer(membership, membership.Membership!.MembershipId, At(1200), Now)!;
        var renewalId = RenewalTerms.RenewalOf(membership.Membership.MembershipId);
        Assert.Equal((renewalId, "gold", (Guid?)InvoiceStream.ForMembership(renewalId)), (offer.RenewalMembershipId, offer.OfferedTier, offer.InvoiceId));
        Assert.Equal(["silver", "gold"], offer.EligibleTiers);
        var offered = membership.Apply(offer);
        Assert.Equal((new DateOnly(2027, 12, 2), new DateOnly(2028, 12, 1)), (offered.Renewal!.Proposed!.StartsOn, offered.Renewal.Proposed.EndsOn));
        Assert.Null(RenewalDecision.Offer(offered, membership.Membership.MembershipId, At(1200), Now));
        Assert.Null(RenewalDecision.Offer(membership, Guid.NewGuid(), At(1200), Now)); // not the term in force
    }

    [Fact]
    public void At_the_term_end_a_card_renews_with_a_card_on_file_and_lapses_without_one_or_below_the_threshold()
    {
        var membership = Member(PaymentMethod.Card);
        var renewed = RenewalDecision.End(membership, new TermEndInputs(At(1200), true, null), Now).Renewed!;
        Assert.Equal(("CPS-482-173-905", new DateOnly(2027, 12, 2), new DateOnly(2028, 12, 1), "gold"),
            (renewed.MembershipNumber, renewed.StartsOn, renewed.EndsOn, renewed.TierCode));
        Assert.Equal(LapseReason.NoCardOnFile, RenewalDecision.End(membership, new TermEndInputs(At(1200), false, null), Now).Lapse);
        Assert.Equal(LapseReason.NotEligible, RenewalDecision.End(membership, new TermEndInputs(At(100), true, null), Now).Lapse);
        var stopped = membership.Apply(new RenewalStopped(Account, membership.Membership!.MembershipId, Now));
        Assert.Equal(LapseReason.RenewalStopped, RenewalDecision.End(stopped, new TermEndInputs(At(1200), true, null), Now).Lapse);
    }

    [Fact]
    public void A_card_renewal_keeps_the_fee_its_offer_announced_and_a_tier_it_did_not_announce_is_at_its_fee_in_the_offers_table()
    {
        var membership = Member(PaymentMethod.Card);
        var offered = membership.Apply(RenewalDecision.Offer(membership, membership.Membership!.MembershipId, At(1200), Now)!);
        var dearer = Published(Table.Tiers.Select(t => t with { AnnualFee = t.AnnualFee + 20m }));
        var atTermEnd = Eligibility.Decide(Account, 1200, 2, dearer);

        var renewed = RenewalDecision.End(offered, new TermEndInputs(atTermEnd, true, null, At(1200)), Now).Renewed!;
        Assert.Equal(("gold", 200m, Table.TableVersion), (renewed.TierCode, renewed.AnnualFee, renewed.TierTableVersion));
        // The points fell below Gold: the highest tier they reach in the table the offer was made on, at its fee there (which the offer
        // e-mail listed), not the price list published since.
        var fellToSilver = RenewalDecision.End(offered, new TermEndInputs(Eligibility.Decide(Account, 700, 2, dearer), true, null, At(700)), Now).Renewed!;
        Assert.Equal(("silver", 100m, Table.TableVersion), (fellToSilver.TierCode, fellToSilver.AnnualFee, fellToSilver.TierTableVersion));
    }

    [Fact]
    public void A_tier_dropped_or_raised_by_a_table_published_after_the_offer_is_still_renewed_as_offered()
    {
        var card = Member(PaymentMethod.Card);
        var offered = card.Apply(RenewalDecision.Offer(card, card.Membership!.MembershipId, At(1200), Now)!);
        var withoutGold = Eligibility.Decide(Account, 1200, 2, Published(Table.Tiers.Where(t => t.Code != "gold")));
        var renewed = RenewalDecision.End(offered, new TermEndInputs(withoutGold, true, null, At(1200)), Now).Renewed!;
        Assert.Equal(("gold", 200m, Table.TableVersion), (renewed.TierCode, renewed.AnnualFee, renewed.TierTableVersion));
        // Without the table it was proposed on (an input of another version is not it), today's table decides: the highest eligible.
        var elsewhere = withoutGold with { TierTableVersion = 7 };
        Assert.Equal("silver", RenewalDecision.End(offered, new TermEndInputs(withoutGold, true, null, elsewhere), Now).Renewed!.TierCode);

        var bank = Member(PaymentMethod.BankTransfer);
        var invoiced = bank.Apply(RenewalDecision.Offer(bank, bank.Membership!.MembershipId, At(1200), Now)!);
        var raised = Eligibility.Decide(Account, 1200, 2, Published(Table.Tiers.Select(t => t with { PointsRequired = t.PointsRequired + 1000 })));
        var paid = new Invoice { Id = invoiced.Renewal!.InvoiceId!.Value, Status = InvoiceStatus.Paid };
        Assert.Equal("gold", RenewalDecision.End(invoiced, new TermEndInputs(raised, false, paid, At(1200)), Now).Renewed!.TierCode);
        // The points fell below every tier of the offer's table: lapsed, and the paid renewal credited.
        var below = RenewalDecision.End(invoiced, new TermEndInputs(raised, false, paid, At(400)), Now);
        Assert.Equal((LapseReason.NotEligible, true), (below.Lapse, below.EvenIfPaid));
    }

    [Fact]
    public void An_offer_that_found_no_tier_proposes_nothing_and_its_term_end_decides_on_the_table_in_force()
    {
        var membership = Member(PaymentMethod.Card);
        var offered = membership.Apply(RenewalDecision.Offer(membership, membership.Membership!.MembershipId, At(400), Now)!);
        Assert.Null(offered.Renewal!.Proposed);
        var lower = Eligibility.Decide(Account, 400, 2, Published(Table.Tiers.Select(t => t with { PointsRequired = t.PointsRequired - 200 }), 300));
        Assert.Equal("silver", RenewalDecision.End(offered, new TermEndInputs(lower, true, null, At(400)), Now).Renewed!.TierCode);
    }

    [Fact]
    public void Joining_and_renewing_each_begin_a_term_that_uses_up_the_invitation_and_opens_a_tier_period()
    {
        var invited = AccountMembership.Create(new InvitationIssued(Account, Guid.NewGuid(), 1000, 500, 1, Now.AddYears(-1)));
        var joined = invited.Apply(new CpsJoined(Account, Guid.NewGuid(), "CPS-482-173-905", "gold", "Gold", TierKind.Standard, 200m, "EUR",
            PaymentMethod.Card, new DateOnly(2026, 12, 2), new DateOnly(2027, 12, 1), 1, 1000, 1, Now.AddYears(-1)));
        var term = joined.Membership!;
        Assert.Equal(new MembershipTerm(term.MembershipId, "CPS-482-173-905", "gold", "Gold", TierKind.Standard, 200m, "EUR", PaymentMethod.Card,
            new DateOnly(2026, 12, 2), new DateOnly(2027, 12, 1), 1), term);
        Assert.Equal((null, null), (joined.Invitation, joined.Renewal));
        Assert.Equal([invited.Invitation!], joined.PastInvitations);
        Assert.Empty(joined.PastMemberships);
        Assert.Equal(["CPS-482-173-905"], joined.MembershipNumbers);
        Assert.Equal([new TierPeriod(term.MembershipId, "CPS-482-173-905", "gold", "Gold", 200m, "EUR", term.StartsOn, TierChange.Joined, null)],
            joined.TierHistory);

        // Suspended, the renewal stopped, and invited again in the moments before the renewal is recorded: the renewal clears all three.
        var before = joined.Apply(new MembershipSuspended(Account, term.MembershipId, Guid.NewGuid(), "INV-2027-000001", Now))
            .Apply(new RenewalStopped(Account, term.MembershipId, Now))
            .Apply(new InvitationIssued(Account, Guid.NewGuid(), 2000, 500, 2, Now));
        var renewalId = RenewalTerms.RenewalOf(term.MembershipId);
        var invoiceId = Guid.NewGuid();
        var renewed = before.Apply(new MembershipRenewed(Account, term.MembershipId, renewalId, "CPS-482-173-905", "platinum", "Platinum",
            TierKind.Standard, 350m, "EUR", PaymentMethod.Card, new DateOnly(2027, 12, 2), new DateOnly(2028, 12, 1), 2, 2000, 2, invoiceId, Now));
        Assert.Equal(new MembershipTerm(renewalId, "CPS-482-173-905", "platinum", "Platinum", TierKind.Standard, 350m, "EUR", PaymentMethod.Card,
            new DateOnly(2027, 12, 2), new DateOnly(2028, 12, 1), 2, RenewalInvoiceId: invoiceId), renewed.Membership);
        Assert.Equal([term with { EndedOn = term.EndsOn, EndedBecause = "renewed" }], renewed.PastMemberships);
        Assert.Equal((null, null, null), (renewed.Invitation, renewed.Renewal, renewed.Suspension));
        Assert.Equal([invited.Invitation!, before.Invitation!], renewed.PastInvitations);
        Assert.Equal(["CPS-482-173-905"], renewed.MembershipNumbers);
        Assert.Equal([TierChange.Joined, TierChange.Renewed], renewed.TierHistory.Select(t => t.Change));
        Assert.Equal(new TierPeriod(renewalId, "CPS-482-173-905", "platinum", "Platinum", 350m, "EUR", new DateOnly(2027, 12, 2), TierChange.Renewed, null),
            renewed.TierHistory[1]);
    }

    private static TierTableView Published(IEnumerable<TierDefinition> tiers, int? threshold = null) =>
        TierTableViewProjection.Apply(Table, new TierTablePublished(threshold ?? Table.InvitationThreshold, Table.EnterpriseAbovePoints, [.. tiers],
            "Table of the year", Now));

    [Fact]
    public void At_the_term_end_a_bank_transfer_renews_only_when_its_renewal_invoice_is_paid()
    {
        var membership = Member(PaymentMethod.BankTransfer);
        var offered = membership.Apply(RenewalDecision.Offer(membership, membership.Membership!.MembershipId, At(1200), Now)!);
        var invoiceId = offered.Renewal!.InvoiceId!.Value;
        var unpaid = RenewalDecision.End(offered, new TermEndInputs(At(1200), false, new Invoice { Id = invoiceId, Status = InvoiceStatus.Open }), Now);
        Assert.Equal((LapseReason.Unpaid, invoiceId), (unpaid.Lapse, Assert.Single(unpaid.InvoicesToCancel)));
        var paid = RenewalDecision.End(offered, new TermEndInputs(At(1200), false, new Invoice { Id = invoiceId, Status = InvoiceStatus.Paid }), Now);
        Assert.Equal(invoiceId, paid.Renewed!.InvoiceId);
    }

    [Theory]
    [InlineData(200, 350, 365, 365, 150.00)] // the whole term: the whole difference
    [InlineData(200, 350, 1, 365, 0.41)] // the last day: 150 / 365 = 0.4109...
    [InlineData(200, 350, 200, 365, 82.19)] // 150 * 200 / 365 = 82.1917...
    [InlineData(100, 350, 183, 366, 125.00)] // a leap-year term: 250 * 183 / 366
    public void An_upgrade_is_charged_the_fee_difference_for_the_whole_days_remaining(decimal from, decimal to, int daysRemaining, int daysInTerm,
        decimal expected) =>
        Assert.Equal(expected, UpgradeTierEndpoint.ProRata(from, to, daysRemaining, daysInTerm));

    [Theory]
    [InlineData("30.00:00:00", "2027-11-02T00:00:00Z")] // the default: 30 days before the first moment after the last day
    [InlineData("45.00:00:00", "2027-10-18T00:00:00Z")]
    [InlineData("12:00:00", "2027-12-01T12:00:00Z")]
    public void The_renewal_offer_comes_the_configured_time_before_the_term_ends(string before, string expected)
    {
        var term = Member(PaymentMethod.Card).Membership!; // ends on 2027-12-01
        var options = new MembershipYearOptions { RenewalOfferBefore = TimeSpan.Parse(before, System.Globalization.CultureInfo.InvariantCulture) };

        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), RenewalDecision.OfferAt(term, options));
    }

    [Theory]
    [InlineData("45.00:00:00", "10", true)]
    [InlineData("0.00:00:00", "0", false)] // no offer window
    [InlineData("400.00:00:00", "0", false)] // longer than a year
    [InlineData("30.00:00:00", "30", false)] // the invoice would fall due before the offer is made
    [InlineData("30.00:00:00", "-1", false)]
    public void The_membership_year_options_are_checked_when_the_service_starts(string offerBefore, string dueDaysBefore, bool valid)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Membership:RenewalOfferBefore"] = offerBefore;
        builder.Configuration["Membership:RenewalInvoiceDueDaysBeforeTermEnd"] = dueDaysBefore;
        builder.AddMembershipYear();
        using var services = builder.Services.BuildServiceProvider();

        MembershipYearOptions Read() => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MembershipYearOptions>>().Value;
        if (valid)
            Assert.Equal(10, Read().RenewalInvoiceDueDaysBeforeTermEnd);
        else
            Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(Read);
    }
}
