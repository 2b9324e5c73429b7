using System.Net;
using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Tests.Audit;

public sealed class AuditTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");
    private HttpClient SupportAgent => App.ClientAs(LedgerRoles.Support, subject: "support-anna");

    private static object Adjustment(int points) => new { points, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-1234" };

    [Fact]
    public async Task History_lists_every_event_across_the_accounts_streams_in_commit_order_with_who_why_and_correlation()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account, "kadri");
        var registered = await member.Register(account, Products.Products.WithoutDealer("H-1"));
        var request = new HttpRequestMessage(HttpMethod.Patch, registered.Url)
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { dealer = "Photopoint" }),
        };
        request.Headers.Add("X-Correlation-Id", "corr-dealer-added");
        await (await member.SendAsync(request)).ShouldBe(HttpStatusCode.OK);
        await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(300))).ShouldBe(HttpStatusCode.Created);
        await App.WaitForMessages();

        var history = await (await Auditor.GetAsync($"/api/accounts/{account}/history")).ShouldBe(HttpStatusCode.OK);
        var items = history.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(
            ["business_account_opened", "product_registered", "product_details_amended", "points_allocated", "points_adjusted", "invitation_issued"],
            items.Select(i => i.GetProperty("type").GetString()));
        var sequences = items.Select(i => i.GetProperty("sequence").GetInt64()).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(["account", "registration", "registration", "registration", "account", "membership"],
            items.Select(i => i.GetProperty("stream").GetString()));

        var amended = items[2];
        Assert.Equal("kadri", amended.GetProperty("by").GetString());
        Assert.Equal("corr-dealer-added", amended.GetProperty("correlationId").GetString());
        Assert.Equal("Details of EOS-R5 amended: dealer Photopoint", amended.GetProperty("description").GetString());
        var adjusted = items[4];
        Assert.Equal(("support-anna", "Registration lost in the portal outage", "CPS-SUP-1234"),
            (adjusted.GetProperty("by").GetString(), adjusted.GetProperty("reason").GetString(), adjusted.GetProperty("ticketReference").GetString()));

        // Filters and paging.
        var onlyPoints = await (await Auditor.GetAsync($"/api/accounts/{account}/history?types=points_allocated,points_adjusted")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, onlyPoints.GetProperty("total").GetInt64());
        var second = await (await Auditor.GetAsync($"/api/accounts/{account}/history?page=2&pageSize=4")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, second.GetProperty("items").GetArrayLength());
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        var none = await (await Auditor.GetAsync($"/api/accounts/{account}/history?from={future}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, none.GetProperty("total").GetInt64());
        await (await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=0")).ShouldBeProblem(HttpStatusCode.BadRequest);

        // Members read their own history only.
        await (await member.GetAsync($"/api/accounts/{account}/history")).ShouldBe(HttpStatusCode.OK);
        var other = await App.OpenAccount("other@example.ee");
        await (await App.Member(other).GetAsync($"/api/accounts/{account}/history")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await Auditor.GetAsync($"/api/accounts/{Guid.NewGuid()}/history")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Time_travel_replays_the_account_before_and_after_a_catalogue_change_and_a_deregistration()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var first = await member.Register(account, Products.Products.Complete("TT-1"));
        var afterFirst = await LastSequence();

        await App.ChangeModelPoints(Products.Products.R5, 300);
        await member.Register(account, Products.Products.Complete("TT-2"));
        var afterSecond = await LastSequence();
        var beforeDeregistration = DateTimeOffset.UtcNow;
        await Task.Delay(50);

        await (await member.PostJson($"{first.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
        await App.WaitForMessages();

        var atFirst = await AsOf(account, $"sequence={afterFirst}");
        Assert.Equal(235, atFirst.GetProperty("summary").GetProperty("pointsTotal").GetInt32());
        Assert.Equal(1, atFirst.GetProperty("eligibleTiers").GetProperty("tierTableVersion").GetInt64());

        var atSecond = await AsOf(account, $"sequence={afterSecond}");
        Assert.Equal(535, atSecond.GetProperty("summary").GetProperty("pointsTotal").GetInt32());
        Assert.Equal([235, 300], atSecond.GetProperty("explanation").GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("points").GetInt32()));
        Assert.Equal(JsonValueKind.Null, atSecond.GetProperty("membership").ValueKind);

        var byTime = await AsOf(account, $"timestamp={Uri.EscapeDataString(beforeDeregistration.ToString("O"))}");
        Assert.Equal(535, byTime.GetProperty("summary").GetProperty("pointsTotal").GetInt32());
        Assert.Equal(2, byTime.GetProperty("summary").GetProperty("products").GetInt32());

        var now = await AsOf(account, $"timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}");
        Assert.Equal(300, now.GetProperty("summary").GetProperty("pointsTotal").GetInt32());
        Assert.True(now.GetProperty("membership").GetProperty("invitation").ValueKind == JsonValueKind.Null);
        // The stored summary agrees with the replay of now.
        Assert.Equal(300, (await member.Summary(account)).PointsTotal);

        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of?sequence=1&timestamp=2020-01-01T00:00:00Z")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of?timestamp=2020-01-01T00:00:00Z")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    private async Task<JsonElement> AsOf(Guid account, string query) =>
        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of?{query}")).ShouldBe(HttpStatusCode.OK);

    private async Task<long> LastSequence()
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);
    }

    [Fact]
    public async Task Verification_finds_nothing_after_normal_operation_and_names_a_corrupted_projection_field()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.Complete("V-1"));
        await member.Register(account, Products.Products.WithoutDealer("V-2"));
        await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(-20))).ShouldBe(HttpStatusCode.Created);
        await App.WaitForMessages();

        var clean = await (await Auditor.GetAsync("/api/audit/verification")).ShouldBe(HttpStatusCode.OK);
        Assert.True(clean.GetProperty("agrees").GetBoolean(), clean.GetRawText());
        Assert.True(clean.GetProperty("documentsChecked").GetInt32() >= 6);

        var registrationId = product.RegistrationId;
        await Sql($"update cpsledger_tests.mt_doc_productview set data = jsonb_set(data, '{{Points}}', '999') where id = '{registrationId}'");
        await Sql($"delete from cpsledger_tests.mt_doc_serialownership where data ->> 'RegistrationId' = '{registrationId}'");
        await Sql("update cpsledger_tests.mt_doc_serialownership set data = jsonb_set(data, '{SerialNumber}', '\"V-9\"') where id = 'EOS-R5|V-2'");

        var report = await (await Auditor.GetAsync($"/api/audit/verification?accountId={account}")).ShouldBe(HttpStatusCode.OK);
        var differences = report.GetProperty("differences").EnumerateArray().ToList();
        var points = Assert.Single(differences, d => d.GetProperty("document").GetString() == "ProductView");
        Assert.Equal((registrationId.ToString(), "$.Points", "999", "235"),
            (points.GetProperty("id").GetString(), points.GetProperty("field").GetString(), points.GetProperty("stored").GetString(),
                points.GetProperty("replayed").GetString()));
        var claims = differences.Where(d => d.GetProperty("document").GetString() == "SerialOwnership").ToList();
        Assert.Equal(["EOS-R5|V-1", "EOS-R5|V-2"], claims.Select(c => c.GetProperty("id").GetString()));
        Assert.EndsWith(" V-9", claims[1].GetProperty("stored").GetString());
        Assert.EndsWith(" V-2", claims[1].GetProperty("replayed").GetString());

        // A rebuild of every projection from the events leaves no difference.
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in ((Marten.StoreOptions)App.Store.Options).Projections.All)
                await daemon.RebuildProjectionAsync(projection.Name, TimeSpan.FromMinutes(1), CancellationToken.None);
        }

        var rebuilt = await (await Auditor.GetAsync("/api/audit/verification")).ShouldBe(HttpStatusCode.OK);
        Assert.True(rebuilt.GetProperty("agrees").GetBoolean(), rebuilt.GetRawText());

        await (await member.GetAsync("/api/audit/verification")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_manual_adjustment_is_its_own_explanation_line_counts_in_the_total_and_is_listed_for_review()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        await App.Member(account).Register(account, Products.Products.Complete("A-1"));
        var url = $"/api/accounts/{account}/points-adjustments";

        await (await SupportAgent.PostJson(url, Adjustment(300))).ShouldBe(HttpStatusCode.Created);
        await App.WaitForMessages();

        var summary = await App.Member(account).Summary(account);
        Assert.Equal((535, 300), (summary.PointsTotal, summary.ManualAdjustmentPoints));
        var explanation = await App.Member(account).Explanation(account);
        var line = explanation.Lines.Single(l => l.Event == "PointsAdjusted");
        Assert.Equal((300, "support-anna", "CPS-SUP-1234"),
            (line.Points, line.By, line.TicketReference));
        Assert.Equal(535, explanation.PointsTotal);

        // The adjustment crossed 500: the invitation policy saw it like any points event.
        var membership = await (await SupportAgent.GetAsync($"/api/accounts/{account}/membership")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(535, membership.GetProperty("invitation").GetProperty("points").GetInt32());

        var overrides = await (await Auditor.GetAsync($"/api/support/overrides?accountId={account}")).ShouldBe(HttpStatusCode.OK);
        var listed = Assert.Single(overrides.GetProperty("items").EnumerateArray());
        Assert.Equal(("points_adjusted", "+300 points", "support-anna"),
            (listed.GetProperty("action").GetString(), listed.GetProperty("description").GetString(), listed.GetProperty("by").GetString()));
        var byOthers = await (await Auditor.GetAsync("/api/support/overrides?by=someone-else")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, byOthers.GetProperty("total").GetInt64());

        await (await SupportAgent.PostJson(url, new { points = 0, reason = "x", ticketReference = "" })).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await App.Member(account).PostJson(url, Adjustment(10))).ShouldBe(HttpStatusCode.Forbidden);
        await (await Auditor.PostJson(url, Adjustment(10))).ShouldBe(HttpStatusCode.Forbidden);
        await (await SupportAgent.PostJson($"/api/accounts/{Guid.NewGuid()}/points-adjustments", Adjustment(10))).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).GetAsync("/api/support/overrides")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Support_resends_the_standing_invitation_as_a_new_email_with_a_reason_on_the_record()
    {
        await App.ListModel(points: 600);
        var account = await App.OpenAccount();
        var url = $"/api/accounts/{account}/invitation/resend";
        var reason = new { reason = "Member says the first e-mail never arrived (ticket CPS-SUP-77)" };

        await (await SupportAgent.PostJson(url, reason)).ShouldBeProblem(HttpStatusCode.Conflict);

        await App.Member(account).Register(account, Products.Products.Complete("R-1"));
        await App.WaitForMessages();
        Assert.Single(Directory.GetFiles(App.MailFolder, "*.eml"));

        await (await SupportAgent.PostJson(url, reason)).ShouldBe(HttpStatusCode.Accepted);
        await App.WaitForMessages();
        var emails = Directory.GetFiles(App.MailFolder, "*.eml");
        Assert.Equal(2, emails.Length);
        Assert.Contains(emails, f => f.Contains("-resent-"));

        var overrides = await (await Auditor.GetAsync($"/api/support/overrides?accountId={account}")).ShouldBe(HttpStatusCode.OK);
        var listed = Assert.Single(overrides.GetProperty("items").EnumerateArray());
        Assert.Equal(("invitation_email_resent", "support-anna"), (listed.GetProperty("action").GetString(), listed.GetProperty("by").GetString()));
        var history = await (await Auditor.GetAsync($"/api/accounts/{account}/history?types=invitation_email_resent")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("Member says the first e-mail never arrived (ticket CPS-SUP-77)",
            history.GetProperty("items")[0].GetProperty("reason").GetString());

        await (await SupportAgent.PostJson(url, new { reason = "" })).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await App.Member(account).PostJson(url, reason)).ShouldBe(HttpStatusCode.Forbidden);
        await (await SupportAgent.PostJson($"/api/accounts/{Guid.NewGuid()}/invitation/resend", reason)).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.True((await (await Auditor.GetAsync($"/api/audit/verification?accountId={account}")).ShouldBe(HttpStatusCode.OK))
            .GetProperty("agrees").GetBoolean());
    }

    [Fact]
    public async Task Linking_and_unlinking_an_old_email_are_overrides_with_their_reason_in_the_history()
    {
        var account = await App.OpenAccount();
        var emails = $"/api/accounts/{account}/old-cps-emails";
        await (await SupportAgent.PostJson(emails, new { email = "kadri@old.example", reason = "Ticket CPS-SUP-9: owner proved the old account" }))
            .ShouldBe(HttpStatusCode.OK);
        await (await SupportAgent.DeleteAsync($"{emails}/kadri@old.example?reason=Linked%20to%20the%20wrong%20account")).ShouldBe(HttpStatusCode.OK);

        var overrides = await (await Auditor.GetAsync($"/api/support/overrides?accountId={account}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["old_cps_email_unlinked", "old_cps_email_linked"],
            overrides.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("action").GetString()));
        var history = await (await Auditor.GetAsync($"/api/accounts/{account}/history?types=old_cps_email_linked,old_cps_email_unlinked"))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["Ticket CPS-SUP-9: owner proved the old account", "Linked to the wrong account"],
            history.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("reason").GetString()));
        Assert.True((await (await Auditor.GetAsync($"/api/audit/verification?accountId={account}")).ShouldBe(HttpStatusCode.OK))
            .GetProperty("agrees").GetBoolean());
    }

    [Fact]
    public async Task Invoices_and_card_charges_are_in_the_history_verified_and_chained_and_the_card_token_is_not_shown()
    {
        await CpsLedger.Tests.Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await CpsLedger.Tests.Invoicing.Billing.JoinedAccount(App, "EE", "card", "tok_sandbox_approve");
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromHours(3));
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromDays(31));

        var history = await (await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=500")).ShouldBe(HttpStatusCode.OK);
        var items = history.GetProperty("items").EnumerateArray().ToList();
        Assert.Contains(items, i => i.GetProperty("type").GetString() == "invoice_issued" && i.GetProperty("stream").GetString() == "invoice");
        Assert.Contains(items, i => i.GetProperty("type").GetString() == "card_charge_attempted");
        var card = Assert.Single(items, i => i.GetProperty("type").GetString() == "payment_card_recorded");
        Assert.DoesNotContain("tok_sandbox_approve", card.GetRawText());

        var report = await (await Auditor.GetAsync($"/api/audit/verification?accountId={account}")).ShouldBe(HttpStatusCode.OK);
        Assert.True(report.GetProperty("agrees").GetBoolean(), report.GetRawText());
        // Account, membership, payment card, invoice, product, serial claim.
        Assert.True(report.GetProperty("documentsChecked").GetInt32() >= 6, report.GetRawText());
    }

    [Fact]
    public async Task An_auditor_is_refused_every_command_route()
    {
        var account = await App.OpenAccount();
        var routes = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [])
                .Select(m => (Method: m, Pattern: e.RoutePattern.RawText!)))
            .Where(r => r.Method is "POST" or "PUT" or "PATCH" or "DELETE")
            .Where(r => r.Pattern.StartsWith("/api/", StringComparison.Ordinal)) // the ledger's commands, not the console's sign-out
            .Distinct()
            .ToList();
        Assert.True(routes.Count >= 8, $"Only {routes.Count} command routes found.");

        foreach (var (method, pattern) in routes)
        {
            var url = System.Text.RegularExpressions.Regex.Replace(pattern, "{accountId}", account.ToString());
            url = System.Text.RegularExpressions.Regex.Replace(url, "{[^}]+}", Guid.NewGuid().ToString());
            var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
            var response = await Auditor.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {pattern} answered an auditor with {(int)response.StatusCode}.");
        }
    }

    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
