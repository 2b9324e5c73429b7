using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Tests.Audit;

/// <summary>
/// An account's history and its verification read the database the same few times however many streams the account has
/// (issue #21): the streams' events are read together and each stream replayed in memory, as time travel does.
/// </summary>
public sealed class AuditReadRoundTripTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor);

    [Fact]
    public async Task An_accounts_history_reads_the_same_few_times_however_many_products_invoices_and_suspensions_it_has()
    {
        var account = await JoinedAccount();
        await AddStreams(account, "HR-A");
        var url = $"/api/accounts/{account}/history?pageSize=500";
        var few = await SentStatements.OfGet(Auditor, url);

        await AddStreams(account, "HR-B");
        var (moved, paid) = await AddStreams(account, "HR-C");
        var many = await SentStatements.OfGet(Auditor, url);

        // Each suspension that moved was told from the membership as it stood before it, and each reinstatement from its invoice's
        // settlement: read with the rest, not a replay of the membership per suspension.
        var items = (await Auditor.GetAsync(url).ReadAs<HistoryPage>()).Items;
        Assert.Equal(3, items.Count(i => i.Description.StartsWith("Membership stays suspended", StringComparison.Ordinal)));
        Assert.Contains($"Membership stays suspended, now for invoice {paid} not paid in full: invoice {moved}, which it was suspended for, was paid",
            items.Select(i => i.Description));
        Assert.Contains($"Membership reinstated: invoice {paid} was paid", items.Select(i => i.Description));
        // The account's check, its streams, the events it has on old CPS accounts' streams, the count and the page in one batch, then
        // what the page's sentences read elsewhere (the membership's events, the migrated products') and the settlements. Before, also
        // a replay of the membership per suspension, and the count and the page a round trip each.
        Assert.Equal(few, many);
        Assert.True(many.Count <= 6, $"{many.Count} round trips:\n{string.Join("\n", many)}");

        // The member reads staff's roles, not their names: by the roles the events record, read with the page.
        var asMember = await SentStatements.OfGet(App.Member(account), url);
        Assert.True(asMember.Count == many.Count, $"the member's {asMember.Count} round trips:\n{string.Join("\n", asMember)}");
    }

    // Every event of a new account records the role its author acted in (and what the ledger did, its cause's): the member's read
    // names staff by those roles, and reads no marks of older events' staff (StaffNames.In) beside the page.
    [Fact]
    public async Task A_members_history_whose_events_all_record_their_roles_reads_what_an_auditors_does()
    {
        var account = await JoinedAccount();
        await App.Tracked(() => App.ClientAs(LedgerRoles.Support, subject: "support-rita").Register(account,
            Products.Products.BySupport(Products.Products.Complete("RR-S-1"))));
        var url = $"/api/accounts/{account}/history?pageSize=500";
        var auditors = await SentStatements.OfGet(Auditor, url, int.MaxValue);
        var members = await SentStatements.OfGet(App.Member(account), url, int.MaxValue);

        Assert.Equal(auditors, members);
        var page = (await App.Member(account).GetAsync(url).ReadAs<HistoryPage>()).Items;
        Assert.Equal("CPS support", Assert.Single(page, e => e.Type == "product_registered" && e.Role == LedgerRoles.Support).By);

        // The same events as if stored before 2026-12-05 (no roles): the marks are read after the page, and still name support.
        await Sql($"update {{0}}.mt_events set headers = headers - 'actor_role' - 'caused_by_role' " +
                  $"where headers is not null and (stream_id = '{account}' or data ->> 'AccountId' = '{account}')");
        var older = await SentStatements.OfGet(App.Member(account), url, int.MaxValue);
        Assert.Equal([.. auditors, .. older.Skip(auditors.Count)], older);
        Assert.Single(older.Skip(auditors.Count), sql => sql.Contains("jsonb_build_object('User', user_name", StringComparison.Ordinal));
        page = (await App.Member(account).GetAsync(url).ReadAs<HistoryPage>()).Items;
        Assert.Equal("CPS support", Assert.Single(page, e => e.Type == "product_registered" && e.TicketReference is not null).By);
    }

    [Fact]
    public async Task An_accounts_chains_are_found_on_the_connection_of_the_session_that_reads_them()
    {
        var account = await JoinedAccount();
        await AddStreams(account, "CN-A");
        // A session on a connection of its own (in a transaction, so that nothing else can borrow it): every statement of the read is
        // sent on it. Before, the events linked elsewhere were read on a connection opened for them.
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var session = App.Store.QuerySession(Marten.Services.SessionOptions.ForTransaction(transaction));
        using var statements = new SentStatements();
        AccountChains scope;
        using (statements.Enter())
            scope = await AccountChains.OfAsync(session, App.Services.GetRequiredService<ChainVerification>(), account, CancellationToken.None);

        Assert.Contains(scope.Streams, s => s.Kind == AccountStreamKind.Invoice);
        Assert.Equal(2, statements.Texts.Count);
        Assert.True(statements.Connections.Distinct().Count() == 1, string.Join("\n", statements.Texts.Zip(statements.Connections)));
    }

    [Fact]
    public async Task An_accounts_verification_reads_the_same_few_times_however_many_streams_it_has_and_names_each_tampered_one()
    {
        var account = await JoinedAccount();
        await AddStreams(account, "VR-A");
        var url = $"/api/audit/verification?accountId={account}";
        var few = await SentStatements.OfGet(Auditor, url);

        await AddStreams(account, "VR-B");
        await AddStreams(account, "VR-C");
        var many = await SentStatements.OfGet(Auditor, url);
        var clean = await Auditor.GetAsync(url).ReadAs<VerificationReport>();
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));
        // The account's check, its chains (its streams and view in one batch, its events elsewhere, three checks as SQL in one batch:
        // until 2026-12-05 a round trip each), its documents, its claims and overrides and all their streams' events in one batch, then
        // the claims of the numbers its events give it and the overrides' replay. Before, a load and a replay per document (three per
        // product), and the claims and the stored overrides a round trip each. Since 2026-12-07 one more: the invoices' list columns
        // against their documents, a statement of its own so that a document value its column cannot read is a difference, not a
        // failed batch.
        Assert.Equal(few, many);
        Assert.True(many.Count <= 8, $"{many.Count} round trips:\n{string.Join("\n", many)}");

        // Tampered with, one stream each: a product's view, an invoice document, and another invoice's event. Each is named by its
        // own stream, and the edited event breaks the account's chain there.
        Guid product, invoice, edited;
        await using (var session = App.Store.QuerySession())
        {
            product = (await session.Query<Api.Products.ProductView>().Where(p => p.AccountId == account).OrderBy(p => p.SerialNumber).ToListAsync())[4].Id;
            var invoices = await session.Query<Invoice>().Where(i => i.AccountId == account).OrderBy(i => i.InvoiceNumber).ToListAsync();
            (invoice, edited) = (invoices[2].Id, invoices[5].Id);
        }

        await Sql($"update {{0}}.mt_doc_productview set data = jsonb_set(data, '{{{{Points}}}}', '999') where id = '{product}'");
        await Sql($"update {{0}}.mt_doc_invoice set data = jsonb_set(data, '{{{{CompanyName}}}}', '\"Tampered OU\"') where id = '{invoice}'");
        await Sql($"update {{0}}.mt_events set data = jsonb_set(data, '{{{{Total}}}}', '999') where stream_id = '{edited}' and type = 'invoice_issued'");

        // The edited invoice was paid: its outstanding is its payment's, which is no longer the edited total less what was paid.
        var report = await Auditor.GetAsync(url).ReadAs<VerificationReport>();
        Assert.Equal([("ProductView", product.ToString(), "$.Points", "999"), ("Invoice", invoice.ToString(), "$.CompanyName", "\"Tampered OU\""),
                ("Invoice", edited.ToString(), "$.Total", "248"), ("Invoice", edited.ToString(), "(event 2) payment_received.Outstanding", "0")],
            report.Differences.Select(d => (d.Document, d.Id, d.Field, d.Stored)).OrderBy(d => d.Document == "Invoice")
                .ThenBy(d => d.Field, StringComparer.Ordinal));
        Assert.Equal("999", Assert.Single(report.Differences, d => d.Id == edited.ToString() && d.Field == "$.Total").Replayed);
        var broken = Assert.Single(report.ChainBreaks);
        Assert.Equal((account, "edited"), (broken.ChainId, broken.Problem));
    }

    private async Task<Guid> JoinedAccount()
    {
        await Billing.ListThousandPointModel(App.Store);
        await App.ListModel(points: 235);
        return await App.JoinedAccount("EE", "bank_transfer");
    }

    /// <summary>
    /// Three products (registered through the service) and two invoices (appended as the issue handler appends them); the
    /// membership suspended for the first, the suspension moved to the second when the first was paid, then reinstated when the
    /// second was paid. Returns the two invoices' numbers.
    /// </summary>
    private async Task<(string Moved, string Paid)> AddStreams(Guid account, string serials)
    {
        var member = App.Member(account);
        await App.Tracked(async () =>
        {
            for (var i = 1; i <= 3; i++)
                await member.Register(account, Products.Products.Complete($"{serials}-{i}"));
        });

        var at = App.Clock.GetUtcNow();
        var day = DateOnly.FromDateTime(at.UtcDateTime);
        var membershipId = Guid.Empty;
        var invoices = new List<(Guid Id, string Number)>();
        await using (var session = App.Store.LightweightSession())
        {
            var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(account));
            membershipId = membership!.Membership!.MembershipId;
            foreach (var n in new[] { 1, 2 })
            {
                var id = Guid.CreateVersion7();
                var number = $"INV-{serials}-{n}";
                session.Events.StartStream<Invoice>(id, new InvoiceIssued(id, number, account, membershipId, "CPS-RT-1", "Round Trip Studio OU", "EE",
                    PaymentMethod.BankTransfer, "EUR", [new InvoiceLine("CPS Gold, 12 months", 200m)], 200m, 0.24m, 48m, 248m, day, day.AddDays(14), at));
                // With its number's claim, as the issue writes it: verification compares the claims with the events.
                session.Insert(new InvoiceNumberClaim { Id = number, InvoiceId = id, AccountId = account });
                invoices.Add((id, number));
            }

            await session.SaveChangesAsync();
        }

        var (moved, paid) = (invoices[0], invoices[1]);
        // Paid as a transfer pays: the payment, then the settlement. Verification checks that the total paid is the payments' sum.
        PaymentReceived Payment((Guid Id, string Number) invoice) => new(invoice.Id, invoice.Number, account, Guid.CreateVersion7(),
            PaymentMethod.BankTransfer, 248m, "EUR", day, null, $"RT-{invoice.Number}", PaymentKind.Full, 248m, 0m, 0m, at);
        await Commit(session =>
            session.Events.Append(MembershipStream.For(account), new MembershipSuspended(account, membershipId, moved.Id, moved.Number, at)));
        await Commit(session =>
        {
            session.Events.Append(moved.Id, Payment(moved), new InvoicePaid(moved.Id, moved.Number, account, 248m, at));
            session.Events.Append(MembershipStream.For(account), new MembershipSuspended(account, membershipId, paid.Id, paid.Number, at));
        });
        await Commit(session =>
        {
            session.Events.Append(paid.Id, Payment(paid), new InvoicePaid(paid.Id, paid.Number, account, 248m, at));
            session.Events.Append(MembershipStream.For(account), new MembershipReinstated(account, membershipId, paid.Id, paid.Number, at));
        });
        return (moved.Number, paid.Number);
    }

    private async Task Commit(Action<IDocumentSession> append)
    {
        await using var session = App.Store.LightweightSession();
        append(session);
        await session.SaveChangesAsync();
    }

    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(string.Format(sql, App.SchemaName), connection);
        await command.ExecuteNonQueryAsync();
    }
}
