using System.Net;
using System.Text.RegularExpressions;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using MimeKit;

namespace CpsLedger.Tests.Accounts;

/// <summary>
/// Every kind of e-mail the ledger sends, read as the member reads it: a German, a Japanese and a Hebrew company, through the
/// service's own pipeline (the .eml files it writes). Found reading them all, 2026-12-07: sentences broken by hand at about 110
/// characters (up to 147 on a line), ragged in every mail reader and on a phone; an upgrade's amount a column out of its table;
/// a renewal offer's subject saying "renews on" above a text saying the membership ends.
/// </summary>
[Collection(SecondLedgerCollection.Name)]
public sealed partial class MemberEmailTests(LedgerApp app) : LedgerTest(app)
{
    /// <summary>The Message-Id's start of each kind of e-mail (the code e-mail goes to an old address, not to an account's contact).</summary>
    public static readonly string[] Kinds =
    [
        "invitation-", "withdrawn-invitation-", "welcome-", "invoice-INV-", "card-declined-", "invoice-overdue-", "membership-suspended-",
        "membership-reinstated-", "credit-note-", "renewal-offer-", "renewed-", "membership-ended-", "old-cps-email-code-",
    ];

    [Fact]
    public async Task Every_e_mail_is_flowed_text_of_lines_no_longer_than_78_characters_its_sentences_whole_and_its_figures_in_one_column()
    {
        var emails = await EveryKindOfEmail(App);

        Assert.All(Kinds, kind => Assert.Contains(emails, e => e.MessageId?.StartsWith(kind, StringComparison.Ordinal) == true));
        var problems = new List<string>();
        foreach (var email in emails)
        {
            var part = email.BodyParts.OfType<TextPart>().Single(p => p.IsPlain && !p.IsAttachment);
            if (part.ContentType.Format != "flowed")
                problems.Add($"{email.MessageId}: text/plain without format=flowed");
            // As sent: RFC 5322 2.1.1, no line longer than 78 characters.
            problems.AddRange(part.Text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 78)
                .Select(l => $"{email.MessageId}: a line of {l.Length} characters: {l}"));

            // As read: a line that goes on with a small letter, a digit or a bracket continues the sentence of the line before, broken
            // by hand where a reader's window would not break it.
            var lines = email.MemberText()!.Split('\n');
            problems.AddRange(lines.Zip(lines.Skip(1)).Where(p => p.First.Length > 0 && !p.First.StartsWith(' ') && SentenceGoesOn().IsMatch(p.Second))
                .Select(p => $"{email.MessageId}: a sentence broken by hand: \"{p.First}\" / \"{p.Second}\""));

            // A table of figures: every amount and its currency end in the same column.
            var figures = lines.Where(l => Figure().IsMatch(l)).ToList();
            if (figures.Select(l => l.Length).Distinct().Count() > 1)
                problems.Add($"{email.MessageId}: figures out of their column:\n{string.Join("\n", figures)}");
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [GeneratedRegex(@"^[a-z0-9(]")]
    private static partial Regex SentenceGoesOn();

    [GeneratedRegex(@"^  \S.*\s[0-9,]+\.[0-9]{2} [A-Z]{3}$")]
    private static partial Regex Figure();

    [Fact]
    public async Task An_e_mail_is_dated_by_the_service_s_clock_in_utc_when_it_is_handed_to_the_mail_server()
    {
        // The tests' clock runs ahead of the machine's (the invoice is issued 2 hours on): MimeKit dated every e-mail by the machine's.
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var invoice = await member.SingleInvoice(account);
        var email = Assert.Single(App.SentEmails(), e => e.Subject?.Contains(invoice.InvoiceNumber) == true);

        Assert.Equal(TimeSpan.Zero, email.Date.Offset);
        // The header has whole seconds.
        Assert.InRange(email.Date, invoice.IssuedAt.AddSeconds(-1), App.Clock.GetUtcNow());
    }

    [Fact]
    public void The_invoice_e_mail_s_figures_are_as_wide_as_their_longest_label_and_amount_so_that_a_phone_shows_each_on_one_line()
    {
        // Labels of at least 44 characters and amounts of 12 made every line 63 characters long: a phone's window (about 47 at
        // 400 pixels in a fixed-width font) put each amount on a line of its own, at the left margin.
        var invoice = TestInvoices.Issued(buyer: TestInvoices.Buyer("IT"));
        var text = InvoiceEmails.Invoice(TestInvoices.Buyer("IT"), invoice, [], TestInvoices.Payee, null).MemberText()!.ReplaceLineEndings("\n");

        Assert.Contains("  CPS Gold membership, annual fee 200.00 EUR\n" +
                        "  Bank transfer surcharge (IT)      2.00 EUR\n" +
                        "  Subtotal                        202.00 EUR\n" +
                        "  VAT 22 % (IT)                    44.44 EUR\n" +
                        "  Total                           246.44 EUR", text);
    }

    [Theory]
    [InlineData("CPS Gold membership renewal, annual fee", 200, "CPS Gold membership renewal, annual fee\n" + "              200.00 EUR")]
    [InlineData("CPS upgrade Gold to Platinum: 340 of 365 days", 1234.5, "CPS upgrade Gold to Platinum: 340 of 365 days\n" + "              1,234.50 EUR")]
    public void A_renewal_s_or_an_upgrade_s_long_label_stands_above_its_amount_so_that_a_phone_shows_the_figures_unwrapped(string label,
        double amount, string expected)
    {
        // Beside a label of 39 or 45 characters, the amount wrapped to the left margin of a phone's window (400 pixels, about 47
        // characters of a fixed font): lines of 52 and 60 characters.
        var joining = TestInvoices.Issued(buyer: TestInvoices.Buyer("EE"));
        var invoice = joining with
        {
            Kind = InvoiceKind.Upgrade,
            Lines = [new InvoiceLine(label, (decimal)amount)],
            Subtotal = (decimal)amount,
            Vat = Math.Round((decimal)amount * joining.VatRate, 2),
            Total = (decimal)amount + Math.Round((decimal)amount * joining.VatRate, 2),
        };
        var text = InvoiceEmails.Invoice(TestInvoices.Buyer("EE"), invoice, [], TestInvoices.Payee, null).MemberText()!.ReplaceLineEndings("\n");

        var figures = text.Split('\n').SkipWhile(line => !line.Contains(label)).TakeWhile(line => line.Length > 0).ToList();
        Assert.Contains($"  {expected.Replace("\n", "\n  ")}\n", text);
        Assert.All(figures, line => Assert.True(line.Length <= 47, $"A line of {line.Length} characters: {line}"));
        // Every amount ends in one column, the long label's too.
        Assert.Single(figures.Skip(1).Select(line => line.Length).Distinct());
        Assert.Equal(5, figures.Count);
    }

    [Fact]
    public void The_renewal_offer_s_subject_says_what_its_text_says()
    {
        var term = new MembershipTerm(Guid.NewGuid(), "CPS-482-173-905", "gold", "Gold", TierKind.Standard, 200m, "EUR", PaymentMethod.Card,
            new DateOnly(2026, 1, 1), new DateOnly(2026, 12, 31), 1);
        var next = term with { MembershipId = RenewalTerms.RenewalOf(term.MembershipId), StartsOn = new DateOnly(2027, 1, 1), EndsOn = new DateOnly(2027, 12, 31) };
        RenewalState Offered(MembershipTerm? proposed) =>
            new(term.MembershipId, TestInvoices.Now, proposed is null ? [] : ["gold"], proposed, false, null, null, 0);

        // No level in reach: the membership ends, and the subject says so.
        var nothing = MembershipYearEmails.Offer(TestInvoices.Buyer(), term, Offered(null), null, cardOnFile: true);
        Assert.Contains("so your membership ends on 2026-12-31", nothing.MemberText());
        Assert.Equal("Your CPS membership CPS-482-173-905 ends on 2026-12-31", nothing.Subject);

        // By bank transfer it renews only once the renewal invoice is paid.
        var bank = MembershipYearEmails.Offer(TestInvoices.Buyer(), term with { PaymentMethod = PaymentMethod.BankTransfer },
            Offered(next with { PaymentMethod = PaymentMethod.BankTransfer }), null, cardOnFile: false);
        Assert.Contains("Paid by 2026-12-31, your membership renews on 2027-01-01", bank.MemberText());
        Assert.Equal("Your CPS membership CPS-482-173-905: pay the renewal invoice by 2026-12-31 to renew", bank.Subject);

        // By card with a card on file it renews on its own; without one it asks for a card.
        Assert.Equal("Your CPS membership CPS-482-173-905 renews on 2027-01-01",
            MembershipYearEmails.Offer(TestInvoices.Buyer(), term, Offered(next), null, cardOnFile: true).Subject);
        Assert.Equal("Your CPS membership CPS-482-173-905: add a payment card by 2026-12-31 to renew",
            MembershipYearEmails.Offer(TestInvoices.Buyer(), term, Offered(next), null, cardOnFile: false).Subject);
    }

    [Fact]
    public void The_invoice_e_mail_says_the_period_the_invoice_is_for_as_its_pdf_does()
    {
        // The PDF has said "Period" since it was first drawn; the e-mail of a joining or an upgrade said no dates of the term at all.
        var invoice = TestInvoices.Issued();
        var text = InvoiceEmails.Invoice(TestInvoices.Buyer(), invoice, [], TestInvoices.Payee, null).MemberText()!.ReplaceLineEndings("\n");

        Assert.Contains("  Membership number: CPS-482-173-905\n" +
                        "  Period:            2026-11-25 to 2027-11-24\n" +
                        "  Invoice date:      2026-11-25\n", text);
    }

    [Fact]
    public void An_invitation_above_the_enterprise_points_lists_the_enterprise_levels_too()
    {
        // The member guide: "With more than 2500 points you can choose between the business (enterprise) levels and
        // Silver/Gold/Platinum." The invitation listed the standard levels alone, whatever the points.
        var table = TierTableViewProjection.Create(TierTableStream.Defaults(TestInvoices.Now));
        string Invitation(int points) => InvitationEmail.Compose(TestInvoices.Buyer(),
            new InvitationRecord(Guid.NewGuid(), points, TestInvoices.Now, null), table).MemberText()!.ReplaceLineEndings("\n");

        var enterprise = Invitation(3000);
        Assert.Contains("  - Platinum: 350.00 EUR a year (1600 points)", enterprise);
        Assert.Contains("With more than 2500 points the enterprise levels are open to you too", enterprise);
        Assert.Contains("  - Enterprise A: 1,000.00 EUR a year (up to 25 products)\n" +
                        "  - Enterprise B: 2,500.00 EUR a year (up to 100 products)\n" +
                        "  - Enterprise C: 5,000.00 EUR a year (up to 250 products)", enterprise);

        // At 2500 points, not more: the standard levels only.
        var standard = Invitation(2500);
        Assert.Contains("  - Platinum: 350.00 EUR a year (1600 points)", standard);
        Assert.DoesNotContain("Enterprise", standard);
    }

    /// <summary>
    /// Drives the service until it has sent every kind of e-mail (<see cref="Kinds"/>) and returns them: a German member paying by
    /// bank transfer (overdue, suspended, paid, its renewal invoiced ahead and left unpaid: ended), a Japanese one whose card declines
    /// (its invoice cancelled and replaced, then its membership cancelled by support), a Hebrew one whose card approves (upgraded,
    /// renewed), an account proving an old CPS e-mail, and one invited, sent its invitation again by support and withdrawn.
    /// </summary>
    public static async Task<MimeMessage[]> EveryKindOfEmail(LedgerApp app)
    {
        await Billing.ListThousandPointModel(app.Store);
        var support = app.ClientAs(LedgerRoles.Support);
        var finance = app.ClientAs(LedgerRoles.Finance);
        var portal = app.ClientAs(LedgerRoles.Portal);

        var german = await app.JoinedAccount("DE", "bank_transfer", email: "mueller@example.de", company: "Fotostudio Müller GmbH");
        var japanese = await app.JoinedAccount("JP", "card", SandboxPaymentGateway.Decline, email: "hikari@example.jp", company: "株式会社ひかり写真スタジオ");
        var hebrew = await app.JoinedAccount("IL", "card", SandboxPaymentGateway.Approve, email: "cohen@example.il", company: "סטודיו כהן בע\"מ");

        var proving = (await portal.PostJson("/api/accounts", Accounts.Opening("tamm@example.ee", "Valgus Studio OÜ", "EE", ["kadri.tamm@old.example"]))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        await app.RequestCode(app.Member(proving), proving, "kadri.tamm@old.example");

        var withdrawn = (await portal.PostJson("/api/accounts", Accounts.Opening("pilt@example.ee", "Pildikoda OÜ", "EE"))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        var member = app.Member(withdrawn);
        var registered = await app.Tracked(() => member.Register(withdrawn, Products.Products.Complete("S-WITHDRAWN", Billing.Thousand)));
        await FaultWaits.Until(async () => (await member.GetAsync($"/api/accounts/{withdrawn}/membership").ReadAs<AccountMembership>()).Invitation is not null,
            "the account invited", TimeSpan.FromSeconds(30));
        await app.Tracked(async () => await (await support.PostJson($"/api/accounts/{withdrawn}/invitation/resend",
            new { reason = "Member says the first e-mail never arrived", ticketReference = "CPS-SUP-1" })).ShouldBe(HttpStatusCode.Accepted));
        await app.Tracked(async () => await (await member.PostJson($"{registered.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK));
        await FaultWaits.Until(() => Task.FromResult(app.SentEmails().Any(e => e.MessageId?.StartsWith("withdrawn-invitation-", StringComparison.Ordinal) == true)),
            "the withdrawn invitation's e-mail", TimeSpan.FromSeconds(30));

        // The joining invoices; the Hebrew member upgrades to Platinum (an invoice line longer than the others).
        await app.FastForward(Billing.IssueDelay);
        var hebrewMember = app.Member(hebrew);
        await app.Tracked(() => hebrewMember.Register(hebrew, Products.Products.Complete("S-PLATINUM", Billing.Thousand)));
        await app.Tracked(async () => await (await hebrewMember.PostJson($"/api/accounts/{hebrew}/membership/upgrade", new { tier = "platinum" }))
            .ShouldBe(HttpStatusCode.OK));
        await app.FastForward(Billing.IssueDelay);

        // Day by day past the due dates: the transfer overdue, the card declined and then overdue, both suspended.
        for (var day = 0; day < 50; day++)
            await app.FastForward(TimeSpan.FromDays(1));
        await app.Tracked(async () => await app.PayInFull(await app.Member(german).SingleInvoice(german), "B-GERMAN-1"));
        var declined = await app.Member(japanese).SingleInvoice(japanese);
        await app.Tracked(async () => await (await finance.PostJson($"/api/accounts/{japanese}/invoices/{declined.InvoiceNumber}/cancellation",
            new { reason = "Issued to the wrong company name" })).ShouldBe(HttpStatusCode.Created));
        await app.Tracked(async () => await (await finance.PostJson($"/api/accounts/{japanese}/invoices/{declined.InvoiceNumber}/replacement",
            new { reason = "Reissued to the right company name" })).ShouldBe(HttpStatusCode.Created));

        // The renewal: offered to all three; the German renewal invoice left unpaid (ended), the Japanese membership cancelled by
        // support, the Hebrew one renewed by card.
        var term = (await app.Member(german).GetAsync($"/api/accounts/{german}/membership").ReadAs<AccountMembership>()).Membership!;
        await app.FastForwardPastTheOffer(term);
        await app.Tracked(async () => await (await support.PostJson($"/api/accounts/{japanese}/membership/cancellation",
            new { reason = "Member asked to leave", ticketReference = "CPS-SUP-7" })).ShouldBe(HttpStatusCode.OK));
        await app.FastForwardPastTheTermEnd(term);
        await app.FastForward(Billing.IssueDelay);
        return app.SentEmails();
    }
}
