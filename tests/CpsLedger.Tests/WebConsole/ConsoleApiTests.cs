using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.WebConsole;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Migration;
using Microsoft.AspNetCore.Mvc.Testing;
using Marten;
using Marten.Linq.MatchesSql;
using Npgsql;

namespace CpsLedger.Tests.WebConsole;

/// <summary>What the console stands on: its pages, account search, the caller's identity and the account's hash-chain status.</summary>
public sealed class ConsoleApiTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support, subject: "anna");

    private Task<AccountSearchResults> Find(string q, HttpClient? client = null) =>
        (client ?? Support).GetAsync($"/api/accounts?q={Uri.EscapeDataString(q)}").ReadAs<AccountSearchResults>();

    private static List<(string Company, AccountMatchKind MatchedOn, string Value)> Matches(AccountSearchResults found) =>
        [.. found.Items.Select(i => (i.CompanyName, i.MatchedOn, i.MatchedValue))];

    [Fact]
    public async Task The_console_page_is_served_without_sign_in_with_a_strict_content_security_policy()
    {
        var client = App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var bare = await client.GetAsync("/console");
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/console/", bare.Headers.Location?.OriginalString);

        var page = await client.GetAsync("/console/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<script type=\"module\" src=\"console.js\"></script>", await page.Content.ReadAsStringAsync());
        var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());

        foreach (var asset in new[] { "console.js", "api.js", "chart.js", "console.css" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/console/{asset}")).StatusCode);
        // No script or style from anywhere else: the page works on a closed network.
        foreach (var asset in new[] { "index.html", "console.js", "api.js", "chart.js", "console.css" })
            Assert.DoesNotContain("http", (await client.GetStringAsync($"/console/{asset}")).Replace("http://www.w3.org/2000/svg", ""));
    }

    [Fact]
    public async Task In_development_the_console_signs_in_with_a_development_token()
    {
        var config = await App.CreateClient().GetAsync("/console/config.json").ReadAs<ConsoleConfig>();
        Assert.Equal(new ConsoleConfig("dev-token", "Development"), config);
    }

    [Fact]
    public async Task Signing_out_needs_the_consoles_header()
    {
        var client = App.CreateClient();
        await (await client.PostAsync("/console/signout", null)).ShouldBeProblem(HttpStatusCode.BadRequest);
        var request = new HttpRequestMessage(HttpMethod.Post, "/console/signout");
        request.Headers.Add("X-CpsLedger-Console", "1");
        Assert.Equal(HttpStatusCode.NoContent, (await client.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task The_caller_reads_its_own_name_and_roles_and_an_anonymous_caller_gets_401()
    {
        var me = await Support.GetAsync("/api/me").ReadAs<CurrentUser>();
        Assert.Equal("anna", me.Name);
        Assert.Equal(["support"], me.Roles);

        var account = Guid.NewGuid();
        var member = await App.Member(account, "kadri").GetAsync("/api/me").ReadAs<CurrentUser>();
        Assert.Equal(account, member.AccountId);

        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().GetAsync("/api/me")).StatusCode);
        // Without an identity provider for the console, its header does not make a request count as signed in.
        var withHeader = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        withHeader.Headers.Add("X-CpsLedger-Console", "1");
        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().SendAsync(withHeader)).StatusCode);
    }

    [Fact]
    public async Task Support_finds_an_account_by_company_name_contact_email_old_cps_email_or_serial_number()
    {
        await App.ListModel();
        var valgus = await App.OpenAccount("studio@example.ee", oldEmails: ["old.studio@example.ee"]);
        var other = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening("info@pildikoda.ee", "Pildikoda AS"))
            .ReadAs<BusinessAccountCreated>(HttpStatusCode.Created);
        await App.Member(valgus).Register(valgus, Products.Products.Complete("0123 4567"));

        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.CompanyName, "Valgus Studio OÜ")], Matches(await Find("valgus")));
        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.ContactEmail, "studio@example.ee")], Matches(await Find(" Studio@Example.ee ")));
        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.OldCpsEmail, "old.studio@example.ee")], Matches(await Find("OLD.studio@example.ee")));
        // Typed as one serial, one owner compares it: spaces and case do not matter. Shown as registered, as the caller reads it.
        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.SerialNumber, "0123 4567")], Matches(await Find("0123 4567")));
        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.SerialNumber, "0123 4567")], Matches(await Find("01234567")));
        Assert.Empty(Matches(await Find("nobody by this name")));
        Assert.Equal(other.AccountId, (await Find("pildikoda")).Items[0].AccountId);
    }

    [Fact]
    public async Task A_contact_email_stored_in_capitals_is_found_in_any_case()
    {
        var account = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening("Info@Pildikoda.EE", "Pildikoda AS"))
            .ReadAs<BusinessAccountCreated>(HttpStatusCode.Created);

        var found = Assert.Single((await Find("info@pildikoda.ee")).Items);
        Assert.Equal((account.AccountId, AccountMatchKind.ContactEmail), (found.AccountId, found.MatchedOn));
    }

    // Migration 006 gave serial claims a SerialNumber (what the search's index reads) and fills it in for claims stored before,
    // with SQL written by hand. This runs that SQL, as the script holds it, on a claim of the old shape.
    [Fact]
    public async Task Migration_006_backfills_the_serial_number_of_claims_stored_before_it()
    {
        await App.ListModel();
        var account = await App.OpenAccount("studio@example.ee");
        await App.Member(account).Register(account, Products.Products.Complete("bf 0006"));
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await Execute($"update {App.SchemaName}.mt_doc_serialownership set data = data - 'SerialNumber'");
        Assert.Empty(Matches(await Find("BF0006")));

        var script = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "eventstore-migrations", "006_account_search_indexes_marten.sql"));
        var start = script.IndexOf("UPDATE cpsledger.mt_doc_serialownership", StringComparison.Ordinal);
        var end = script.IndexOf("-- end backfill:serial-number", StringComparison.Ordinal);
        Assert.True(start > 0 && end > start, "the backfill is no longer where this test looks for it");
        var backfill = script[start..end].Replace("cpsledger.", $"{App.SchemaName}.");
        await Execute(backfill);
        await Execute(backfill); // re-running it changes nothing

        Assert.Equal([("Valgus Studio OÜ", AccountMatchKind.SerialNumber, "bf 0006")], Matches(await Find("BF0006")));

        async Task Execute(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CpsLedger.sln")))
                return dir.FullName;
        throw new InvalidOperationException("CpsLedger.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task A_membership_number_finds_its_account_however_it_is_typed()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        var membership = await Support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
        var number = membership.Membership!.MembershipNumber; // CPS-NNN-NNN-NNN

        foreach (var typed in new[] { number, number.ToLowerInvariant(), number.Replace("CPS-", "").Replace("-", " "), number[4..].Replace("-", "") })
        {
            var found = Assert.Single((await Find(typed)).Items);
            Assert.Equal((account, AccountMatchKind.MembershipNumber, number), (found.AccountId, found.MatchedOn, found.MatchedValue));
        }
    }

    [Fact]
    public async Task An_old_cps_membership_number_finds_its_account_in_any_case()
    {
        await App.ImportLegacy(LegacyFiles.Csv("juhan@old.example,CPS-OLD-4711,,,,,"));
        var account = await App.OpenAccount(oldEmails: ["juhan@old.example"]);
        await App.VerifyOldEmail(account, "juhan@old.example");
        await App.Tracked(() => App.Member(account).PostAsync(LegacyFiles.MigrationUrl(account), null).ReadAs<MigrationResult>());

        foreach (var typed in new[] { "CPS-OLD-4711", "cps-old-4711", " Cps-Old-4711 " })
        {
            var found = Assert.Single((await Find(typed)).Items);
            Assert.Equal((account, AccountMatchKind.MembershipNumber, "CPS-OLD-4711"), (found.AccountId, found.MatchedOn, found.MatchedValue));
        }
    }

    [Fact]
    public async Task An_invoice_number_a_credit_note_number_or_a_payment_reference_finds_its_account_however_it_is_typed()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var invoice = await member.SingleInvoice(account);
        var cancellation = await App.Tracked(() => App.ClientAs(LedgerRoles.Finance)
            .PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason = "Issued in error" })
            .ReadAs<Api.Invoicing.InvoiceCancellation>(HttpStatusCode.Created));
        var number = invoice.InvoiceNumber; // INV-YYYY-NNNNNN
        var note = cancellation.CreditNoteNumber; // CN-YYYY-NNNNNN
        // What the invoice prints to quote on a transfer: the creditor reference in groups of four.
        var printed = Api.Invoicing.CreditorReferences.Grouped(invoice.CreditorReference);

        foreach (var typed in new[] { number, number.ToLowerInvariant(), number.Replace("-", " "), number.Replace("-", ""), $" {number[..3]} {number[4..]} " })
        {
            var found = Assert.Single((await Find(typed)).Items);
            Assert.Equal((account, AccountMatchKind.InvoiceNumber, number), (found.AccountId, found.MatchedOn, found.MatchedValue));
        }

        foreach (var typed in new[] { note, note.ToLowerInvariant(), note.Replace("-", " "), note.Replace("-", "") })
        {
            var found = Assert.Single((await Find(typed)).Items);
            Assert.Equal((account, AccountMatchKind.CreditNoteNumber, note), (found.AccountId, found.MatchedOn, found.MatchedValue));
        }

        foreach (var typed in new[] { printed, invoice.CreditorReference, invoice.CreditorReference.ToLowerInvariant(), printed.Replace(" ", "  ") })
        {
            var found = Assert.Single((await Find(typed)).Items);
            Assert.Equal((account, AccountMatchKind.CreditorReference, printed), (found.AccountId, found.MatchedOn, found.MatchedValue));
        }
    }

    [Fact]
    public async Task An_unknown_invoice_or_credit_note_number_or_a_mistyped_payment_reference_finds_nothing()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var invoice = await member.SingleInvoice(account);
        var check = int.Parse(invoice.CreditorReference[2..4]);
        var wrongCheck = $"RF{(check + 1) % 100:D2}{invoice.CreditorReference[4..]}";

        foreach (var typed in new[] { "INV-1999-000001", "CN-1999-000001", Api.Invoicing.CreditorReferences.For("INV-1999-000001"), wrongCheck })
            Assert.Empty((await Find(typed)).Items);
    }

    [Theory]
    [InlineData("old CPS e-mail", "mt_doc_accountview_idx_old_cps_emails")]
    [InlineData("membership number", "mt_doc_accountmembership_idx_membership_numbers")]
    [InlineData("old membership number in any case", AccountSearch.OldNumberIndex)]
    public async Task A_list_lookup_is_served_by_the_index_of_that_list(string lookup, string index)
    {
        await using var session = App.Store.QuerySession();
        var query = lookup switch
        {
            "old CPS e-mail" => session.Query<AccountView>()
                .Where(a => a.MatchesSql(AccountSearch.ListContains(nameof(AccountView.OldCpsEmails)),
                    AccountSearch.ListOf("old@example.ee"))).ToCommand(),
            "membership number" => session.Query<AccountMembership>()
                .Where(m => m.MatchesSql(AccountSearch.ListContains(nameof(AccountMembership.MembershipNumbers)),
                    AccountSearch.ListOf("CPS-482-173-905"))).ToCommand(),
            _ => session.Query<LegacyAccountView>().Where(AccountSearch.OldNumberIs("cps-old-4711")).ToCommand(),
        };

        var plan = await QueryPlans.WithoutSequentialScansAsync(App.Store, query);
        Assert.Contains(plan, line => line.Contains(index));
    }

    [Fact]
    public void A_membership_number_is_recognised_in_the_ways_people_type_it()
    {
        Assert.Equal("CPS-482-173-905", AccountSearch.AsMembershipNumber("cps 482 173 905"));
        Assert.Equal("CPS-482-173-905", AccountSearch.AsMembershipNumber("482173905"));
        Assert.Equal("CPS-482-173-905", AccountSearch.AsMembershipNumber(" CPS-482-173-905 "));
        Assert.Null(AccountSearch.AsMembershipNumber("CPS-482-173-90"));
        Assert.Null(AccountSearch.AsMembershipNumber("Valgus 482173905"));
    }

    [Fact]
    public void An_invoice_or_credit_note_number_is_recognised_in_the_ways_people_type_it()
    {
        Assert.Equal((AccountMatchKind.InvoiceNumber, "INV-2027-000001"), AccountSearch.AsDocumentNumber("inv 2027 000001"));
        Assert.Equal((AccountMatchKind.InvoiceNumber, "INV-2027-000001"), AccountSearch.AsDocumentNumber(" INV2027000001 "));
        Assert.Equal((AccountMatchKind.CreditNoteNumber, "CN-2027-000012"), AccountSearch.AsDocumentNumber("cn-2027-000012"));
        Assert.Equal((AccountMatchKind.CreditNoteNumber, "CN-2027-000012"), AccountSearch.AsDocumentNumber("CN 2027000012"));
        Assert.Null(AccountSearch.AsDocumentNumber("INV-2027-00001"));
        Assert.Null(AccountSearch.AsDocumentNumber("INV-2027-000001 paid"));
        Assert.Null(AccountSearch.AsDocumentNumber("RF18INV2027000001"));
    }

    [Fact]
    public async Task Search_is_for_staff_and_needs_at_least_two_characters()
    {
        var problem = await Support.GetAsync("/api/accounts?q=v").ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.Errors.ContainsKey("q"));
        await (await Support.GetAsync("/api/accounts")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal(HttpStatusCode.OK, (await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/accounts?q=va")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(Guid.NewGuid()).GetAsync("/api/accounts?q=va")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Portal).GetAsync("/api/accounts?q=va")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().GetAsync("/api/accounts?q=va")).StatusCode);
        // A number from an invoice is no way around the roles.
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(Guid.NewGuid()).GetAsync("/api/accounts?q=INV-2027-000001")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Portal).GetAsync("/api/accounts?q=CN-2027-000001")).StatusCode);
    }

    [Fact]
    public async Task Search_shows_at_most_25_accounts_and_says_there_are_more()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);
        for (var i = 0; i < AccountSearch.Limit + 2; i++)
            await (await portal.PostJson("/api/accounts", Accounts.Accounts.Opening($"s{i}@studio.ee", $"Studio {i:00}"))).ShouldBe(HttpStatusCode.Created);

        var found = await Find("studio ");
        Assert.Equal(AccountSearch.Limit, found.Items.Count);
        Assert.True(found.MoreThanShown);
        Assert.Equal("Studio 00", found.Items[0].CompanyName);
    }

    [Fact]
    public async Task The_hash_chain_status_of_an_account_shows_its_head_and_finds_an_edited_event()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        await App.Tracked(() => App.Member(account).Register(account, Products.Products.Complete("HC-9")));
        var auditor = App.ClientAs(LedgerRoles.Auditor);

        var status = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.True(status.Intact, string.Join("; ", status.Chains));
        var own = status.Chains[0];
        Assert.Equal(account, own.ChainId);
        Assert.Equal(3, own.Links); // opened, registered, allocated
        Assert.Equal(64, own.HeadHash.Length);

        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var edit = new NpgsqlCommand(
                "update cpsledger_tests.mt_events set data = jsonb_set(data, '{CompanyName}', '\"Valgus Stuudio OÜ\"') where stream_id = @a", connection);
            edit.Parameters.AddWithValue("a", account);
            Assert.Equal(1, await edit.ExecuteNonQueryAsync());
        }

        var broken = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.False(broken.Intact);
        var chain = broken.Chains[0];
        Assert.False(chain.Intact);
        Assert.Equal(("edited", 1L), (chain.Break!.Problem, chain.Break.Position));

        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(account).GetAsync($"/api/accounts/{account}/hash-chain")).StatusCode);
        await (await auditor.GetAsync($"/api/accounts/{Guid.NewGuid()}/hash-chain")).ShouldBeProblem(HttpStatusCode.NotFound);
    }
    [Fact]
    public async Task The_hash_chain_status_labels_an_invoices_chain_with_its_number_and_names_a_chain_with_no_link_left()
    {
        // The card charge attempts name no account, so they are chained on the invoice's stream: the label says which invoice, so that a
        // reader of the status (the console among them) need not fetch the account's invoices to tell.
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "card", Api.Invoicing.SandboxPaymentGateway.Approve);
        await App.FastForward(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1)); // the invoice is issued
        await App.FastForward(TimeSpan.FromDays(30)); // and its card charged on the due date
        var invoice = await App.Member(account).SingleInvoice(account);
        var auditor = App.ClientAs(LedgerRoles.Auditor);

        var status = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.True(status.Intact);
        Assert.Equal((account, AccountStreamKind.Account, (string?)null), (status.Chains[0].ChainId, status.Chains[0].Kind, status.Chains[0].Label));
        var charges = Assert.Single(status.Chains, c => c.ChainId == invoice.Id);
        Assert.Equal((AccountStreamKind.Invoice, invoice.InvoiceNumber, 1L), (charges.Kind, charges.Label, charges.Links));
        Assert.Empty(status.Unlinked);

        // The invoice's links deleted: its chain has no head, so no row; its attempt is a break, and the chain is still named.
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand($"delete from {App.SchemaName}.account_chain where chain_id = @invoice", connection);
            delete.Parameters.AddWithValue("invoice", invoice.Id);
            Assert.Equal(1, await delete.ExecuteNonQueryAsync());
        }
        var broken = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.False(broken.Intact);
        Assert.DoesNotContain(broken.Chains, c => c.ChainId == invoice.Id);
        Assert.Equal((invoice.Id, "unchained"), (broken.Breaks.Single().ChainId, broken.Breaks.Single().Problem));
        Assert.Equal([new ChainName(invoice.Id, AccountStreamKind.Invoice, invoice.InvoiceNumber)], broken.Unlinked);
    }

    [Fact]
    public async Task The_hash_chain_status_shows_the_chains_the_verification_checks_the_old_cps_accounts_named_by_their_old_email()
    {
        // An account that migrated from an old CPS account: the imported products' events are on the old account's own chain,
        // which the account's verification checks, so the status a support agent reads must show it, named.
        await App.ListModel(points: 235);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        Assert.Equal(2, (await App.Member(account).Migrate(account)).Migrated);
        var legacy = Api.Migration.LegacyIds.AccountFor(LegacyFiles.Kadri);
        var support = App.ClientAs(LedgerRoles.Support);

        var status = await support.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.True(status.Intact);
        Assert.Equal((account, AccountStreamKind.Account, (string?)null), (status.Chains[0].ChainId, status.Chains[0].Kind, status.Chains[0].Label));
        var old = Assert.Single(status.Chains, c => c.ChainId == legacy);
        Assert.Equal((AccountStreamKind.OldCpsAccount, $"{LegacyFiles.Kadri} ({LegacyFiles.KadriNumber})"), (old.Kind, old.Label));
        Assert.Equal(4, old.Links); // the old account imported, and its three products

        // An imported product's event edited in the database: the status says what the verification says, on the same chain.
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var edit = new NpgsqlCommand(
                "update cpsledger_tests.mt_events set data = jsonb_set(data, '{Dealer}', '\"Forged\"') where stream_id = @legacy " +
                "and type = 'legacy_product_imported' and data ->> 'SerialNumber' = 'LENS-1'", connection);
            edit.Parameters.AddWithValue("legacy", legacy);
            Assert.Equal(1, await edit.ExecuteNonQueryAsync());
        }

        var broken = await support.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}")
            .ReadAs<VerificationReport>();
        Assert.False(broken.Intact);
        Assert.Equal(verification.ChainBreaks, broken.Breaks);
        Assert.Equal((legacy, "edited"), (broken.Breaks.Single().ChainId, broken.Breaks.Single().Problem));
        Assert.False(Assert.Single(broken.Chains, c => c.ChainId == legacy).Intact);
    }
}
