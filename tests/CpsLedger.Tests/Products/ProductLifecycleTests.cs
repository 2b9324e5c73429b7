using System.Net;
using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Migration;
using Marten;

namespace CpsLedger.Tests.Products;

public sealed class ProductLifecycleTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Two_accounts_registering_the_same_serial_at_once_exactly_one_wins_every_time_never_500()
    {
        await App.ListModel();
        var first = await App.OpenAccount("a@example.ee");
        var second = await App.OpenAccount("b@example.ee");
        var a = App.Member(first);
        var b = App.Member(second);

        for (var round = 0; round < 25; round++)
        {
            // The same product written two ways: the comparison ignores case and spaces.
            var responses = await Task.WhenAll(
                a.PostJson(Products.ProductsUrl(first), Products.Complete($"sn {round:000} x")),
                b.PostJson(Products.ProductsUrl(second), Products.Complete($"SN{round:000}X")));
            var statuses = responses.Select(r => r.StatusCode).OrderBy(s => s).ToList();
            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], statuses);

            // The loser is not told who owns the serial (its own account is in the problem's instance, its request path).
            var refused = responses.Single(r => r.StatusCode == HttpStatusCode.Conflict);
            var loser = ReferenceEquals(responses[0], refused) ? first : second;
            var conflict = await refused.ReadProblem(HttpStatusCode.Conflict);
            Assert.DoesNotContain((loser == first ? second : first).ToString(), await refused.Content.ReadAsStringAsync());
            Assert.Equal("Product already registered", conflict.Title);
            Assert.Null(refused.Headers.Location);
        }

        var total = (await a.Summary(first)).Products + (await b.Summary(second)).Products;
        Assert.Equal(25, total);
    }

    [Fact]
    public async Task The_same_account_cannot_register_the_same_serial_twice_but_another_model_with_that_serial_is_fine()
    {
        await App.ListModel();
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Complete("X1"));
        await (await member.PostJson(Products.ProductsUrl(account), Products.Complete("x 1"))).ShouldBeProblem(HttpStatusCode.Conflict);
        await member.Register(account, Products.Complete("X1", Products.Lens));
    }

    [Fact]
    public async Task Deregistration_removes_the_points_and_frees_the_serial_for_a_buyer()
    {
        await App.ListModel(points: 235);
        var seller = await App.OpenAccount("seller@example.ee");
        var buyer = await App.OpenAccount("buyer@example.ee");
        var registered = await App.Member(seller).Register(seller, Products.Complete("SOLD-1"));
        var url = registered.Url;

        await (await App.Member(buyer).PostJson(Products.ProductsUrl(buyer), Products.Complete("SOLD-1"))).ShouldBeProblem(HttpStatusCode.Conflict);

        var deregistered = await App.Member(seller).PostJson($"{url}/deregistration", new { reason = "sold", note = "to a colleague" })
            .ReadAs<ProductRegistrationStatus>();
        Assert.True(deregistered.Deregistered);
        Assert.Equal(0, (await App.Member(seller).Summary(seller)).PointsTotal);

        var explanation = await App.Member(seller).Explanation(seller);
        Assert.Equal(0, explanation.PointsTotal);
        var lines = explanation.Lines.ToList();
        Assert.Equal([235, -235], lines.Select(l => l.Points));
        Assert.Equal("deregistered: sold", lines[1].Reason);

        await App.Member(buyer).Register(buyer, Products.Complete("sold-1"));
        Assert.Equal(235, (await App.Member(buyer).Summary(buyer)).PointsTotal);

        // Deregistered products leave "My Products" but can be listed, and cannot be deregistered or amended again.
        Assert.Empty((await (await App.Member(seller).GetAsync(Products.ProductsUrl(seller))).ShouldBe(HttpStatusCode.OK)).EnumerateArray());
        Assert.Single((await (await App.Member(seller).GetAsync(Products.ProductsUrl(seller) + "?includeDeregistered=true"))
            .ShouldBe(HttpStatusCode.OK)).EnumerateArray());
        await (await App.Member(seller).PostJson($"{url}/deregistration", new { reason = "sold" })).ShouldBeProblem(HttpStatusCode.Conflict);
        await (await App.Member(seller).PatchJson(url, new { dealer = "x" })).ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Deregistering_an_incomplete_registration_removes_no_points()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.WithoutDealer());
        await (await App.Member(account).PostJson($"{registered.Url}/deregistration", new { reason = "registered_in_error" }))
            .ShouldBe(HttpStatusCode.OK);
        var explanation = await App.Member(account).Explanation(account);
        Assert.Empty(explanation.Lines);
        Assert.Empty(explanation.AwaitingDetails);
    }

    [Fact]
    public async Task A_catalogue_change_is_not_retrospective_and_new_registrations_use_the_new_value()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Complete("OLD-1"));
        var pending = await member.Register(account, Products.WithoutDealer("PENDING-1"));

        await App.ChangeModelPoints(Products.R5, 300);

        await member.Register(account, Products.Complete("NEW-1"));
        await (await member.PatchJson(pending.Url, new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);

        var explanation = await member.Explanation(account);
        var lines = explanation.Lines
            .ToDictionary(l => l.SerialNumber!, l => (Points: l.Points,
                Version: l.CatalogueVersion));
        Assert.Equal((235, 1L), lines["OLD-1"]);
        Assert.Equal((300, 2L), lines["NEW-1"]);
        Assert.Equal((300, 2L), lines["PENDING-1"]);
        Assert.Equal(835, (await member.Summary(account)).PointsTotal);

        // Deregistering the old product removes what it was given (235), not today's value.
        var old = (await member.GetAsync(Products.ProductsUrl(account)).ReadAs<List<ProductView>>()).Single(p => p.SerialNumber == "OLD-1");
        await (await member.PostJson($"{Products.ProductsUrl(account)}/{old.Id}/deregistration", new { reason = "lost" }))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Equal(600, (await member.Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task A_model_withdrawn_after_registration_still_earns_its_points_when_the_details_are_completed()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var pending = await App.Member(account).Register(account, Products.WithoutDealer());
        await App.WithdrawModel(Products.R5);
        var amended = await App.Member(account).PatchJson(pending.Url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>();
        Assert.Equal(235, amended.Points);
    }

    [Fact]
    public async Task The_model_of_a_registration_is_found_through_its_view_alone_and_in_a_batch()
    {
        await App.ListModel(points: 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var account = await App.OpenAccount();
        var pending = await App.Member(account).Register(account, Products.WithoutDealer("VIEW-1", Products.Lens));

        await using var session = App.Store.QuerySession();
        var alone = await new ModelOfRegistration(pending.RegistrationId).Fetch(session, CancellationToken.None);
        var batch = session.CreateBatchQuery();
        var inBatch = new ModelOfRegistration(pending.RegistrationId).Fetch(batch);
        var unknown = new ModelOfRegistration(Guid.NewGuid()).Fetch(batch);
        await batch.Execute();

        Assert.Equal(Products.Lens, alone.Model?.Code);
        Assert.Equal(15, (await inBatch).Model?.Points);
        Assert.Null((await unknown).Model);
    }

    [Fact]
    public async Task Completing_a_registration_whose_view_is_being_rebuilt_still_allocates_the_value_in_force()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var pending = await App.Member(account).Register(account, Products.WithoutDealer());
        await App.ChangeModelPoints(Products.R5, 300);
        // What a rebuild in progress looks like to the PATCH: the registration's events, and no view yet.
        await using (var session = App.Store.LightweightSession())
        {
            session.HardDelete<ProductView>(pending.RegistrationId);
            await session.SaveChangesAsync();
        }

        var amended = await App.Member(account).PatchJson(pending.Url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>();
        Assert.Equal(300, amended.Points);
    }

    [Fact]
    public async Task Completing_details_reads_the_view_and_model_in_its_batch_and_projects_without_reading_the_view_again()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var pending = await member.Register(account, Products.WithoutDealer());

        using var statements = new SentStatements();
        // The request carries a trace of its own, which its statements (and the work it sets off) continue.
        member.DefaultRequestHeaders.Add("traceparent", statements.TraceParent);
        var amended = await member.PatchJson(pending.Url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>();
        var sent = statements.Texts;

        Assert.Equal(235, amended.Points);
        // One batch read the account, the registration's events, its view and its model (by the view's model code).
        Assert.Single(sent, sql => sql.Contains("mt_doc_productmodelview") && sql.Contains("mt_events") && sql.Contains("mt_doc_productview as p"));
        // The inline ProductView projection took the view from the session's identity map: no read of it by id of its own.
        Assert.DoesNotContain(sent, sql => sql.Contains("mt_doc_productview as d where id = ANY"));
        Assert.Equal(235, (await member.Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task Amending_corrects_details_keeps_points_and_moves_the_serial_claim()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        var member = App.Member(account);
        var registered = await member.Register(account, Products.Complete("TYPO-1"));
        var url = registered.Url;

        var amended = await member.PatchJson(url, new { serialNumber = "TYPO-2", purchaseDate = "2023-12-24", bestGuesses = new[] { "purchase_date" } })
            .ReadAs<ProductRegistrationStatus>();
        Assert.Equal(235, amended.Points);
        Assert.Equal([MandatoryDetail.PurchaseDate], amended.BestGuesses);

        // The old serial is free again; the new one is taken.
        await App.Member(other).Register(other, Products.Complete("TYPO-1"));
        await (await App.Member(other).PostJson(Products.ProductsUrl(other), Products.Complete("typo-2"))).ShouldBeProblem(HttpStatusCode.Conflict);
        // Moving the serial onto one another account owns is a 409 that changes nothing.
        await (await member.PatchJson(url, new { serialNumber = "TYPO-1" })).ShouldBeProblem(HttpStatusCode.Conflict);
        var product = await member.GetAsync(url).ReadAs<ProductView>();
        Assert.Equal("TYPO-2", product.SerialNumber);

        // Giving the exact date again clears the best-guess flag; repeating everything changes nothing.
        await (await member.PatchJson(url, new { purchaseDate = "2023-12-24" })).ShouldBe(HttpStatusCode.OK);
        // Counted on the product's own stream: background work of other tests may still append elsewhere in the ledger.
        var before = await EventCount(registered.RegistrationId);
        await (await member.PatchJson(url, new { purchaseDate = "2023-12-24", dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(before, await EventCount(registered.RegistrationId));
        Assert.Empty((await member.GetAsync(url).ReadAs<ProductView>()).BestGuesses);
    }

    [Fact]
    public async Task Concurrent_amendments_of_one_product_lose_with_a_409_a_portal_can_show()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var registered = await member.Register(account, Products.WithoutDealer());

        // Six at once usually race on the product's stream version; a few rounds make sure the race was run at least once.
        var conflicts = 0;
        for (var round = 0; round < 10 && conflicts == 0; round++)
        {
            var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
                member.PatchJson(registered.Url, new { dealer = $"Dealer {round}-{i}" })));
            foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
            {
                var problem = await refused.ReadProblem(HttpStatusCode.Conflict);
                Assert.Equal(("Concurrent change", "The data changed while this request was being processed. Read it again and retry."),
                    (problem.Title, problem.Detail));
                conflicts++;
            }
        }

        Assert.True(conflicts > 0, "No amendment lost a race in ten rounds of six.");
    }

    [Fact]
    public async Task Another_accounts_or_an_unknown_product_reads_as_product_not_found()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        var theirs = await App.Member(other).Register(other, Products.Complete());
        var member = App.Member(account);

        foreach (var id in new[] { theirs.RegistrationId, Guid.NewGuid() })
        {
            var read = await member.GetAsync($"{Products.ProductsUrl(account)}/{id}").ReadProblem(HttpStatusCode.NotFound);
            Assert.Equal(("Product not found", ProductChecks.NotFoundDetail), (read.Title, read.Detail));
        }

        // Worded as changing it is: the portal shows one sentence for a product that is not this account's, or not anyone's.
        foreach (var id in new[] { theirs.RegistrationId, Guid.NewGuid() })
        {
            var amend = await member.PatchJson($"{Products.ProductsUrl(account)}/{id}", new { dealer = "x" })
                .ReadProblem(HttpStatusCode.NotFound);
            Assert.Equal(("Product not found", ProductChecks.NotFoundDetail), (amend.Title, amend.Detail));
            var deregister = await member.PostJson($"{Products.ProductsUrl(account)}/{id}/deregistration", new { reason = "sold" })
                .ReadProblem(HttpStatusCode.NotFound);
            Assert.Equal(("Product not found", ProductChecks.NotFoundDetail), (deregister.Title, deregister.Detail));
        }
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"dealer":null}""")]
    [InlineData("""{"bestGuesses":[]}""")]
    public async Task An_amendment_without_any_detail_is_a_400_on_the_body_as_a_whole(string body)
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.WithoutDealer());

        var response = await App.Member(account).SendAsync(new HttpRequestMessage(HttpMethod.Patch, registered.Url)
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        });

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([RequestGate.BodyKey], problem.Errors.Keys);
    }

    [Fact]
    public async Task The_model_of_a_registration_cannot_be_changed()
    {
        await App.ListModel();
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.WithoutDealer());
        var problem = await App.Member(account).PatchJson(registered.Url, new { modelCode = Products.Lens }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("Deregister", problem.Errors["modelCode"][0]);
        await (await App.Member(account).PatchJson(registered.Url, new { })).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await App.Member(account).PatchJson(registered.Url, new { purchaseDate = "2999-01-01" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await App.Member(account).PatchJson($"{Products.ProductsUrl(account)}/{Guid.NewGuid()}", new { dealer = "x" }))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).PostJson($"{Products.ProductsUrl(account)}/{Guid.NewGuid()}/deregistration", new { reason = "sold" }))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).PostRaw($"{registered.Url}/deregistration", """{"reason":"stolen"}"""))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_explanation_names_the_event_the_catalogue_value_who_and_what_is_waiting()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        await App.Member(account, "kadri").Register(account, Products.Complete("E-1"));
        await App.ClientAs(LedgerRoles.Support, subject: "support-anna").Register(account, Products.BySupport(Products.WithoutDealer("E-2")));

        var response = await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{account}/points-explanation");
        var explanation = await response.ReadAs<PointsExplanation>();
        Snapshots.MatchJson(await response.Content.ReadAsStringAsync());

        // The line's event id is a stored event of that type, written by that user.
        var line = explanation.Lines[0];
        await using var session = App.Store.QuerySession();
        var stored = await session.Events.QueryAllRawEvents().Where(e => e.Id == line.EventId).SingleAsync();
        Assert.Equal(typeof(PointsAllocated), stored.EventType);
        Assert.Equal("kadri", stored.UserName);
    }

    [Fact]
    public async Task Each_explanation_line_says_in_words_why_it_has_its_points()
    {
        // Support on the phone reads out why a line has its value: the catalogue's value in force when the details were complete,
        // kept when the catalogue changes later, removed exactly; an adjustment that no catalogue value decides.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var registered = await member.Register(account, Products.Complete("E-1"));
        await App.ChangeModelPoints(Products.R5, 300);
        await (await member.PostJson($"{registered.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
        await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 50, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-9" })).ShouldBe(HttpStatusCode.Created);

        var lines = (await member.Explanation(account)).Lines;

        Assert.Equal([false, false, null], lines.Select(l => l.Migrated));
        Assert.Equal(
        [
            "EOS R5 (EOS-R5, Camera bodies (EOS)): 235 points, the catalogue's value for EOS-R5 (version 1) in force when its four " +
            "mandatory details were complete. A later change of the catalogue does not alter it. The catalogue now gives 300 points " +
            "for EOS-R5 (version 2); the 235 points already allocated do not change.",
            // Why it was taken off, as the member said it: the member asks "where did my 235 go?".
            "EOS R5 (EOS-R5, Camera bodies (EOS)): 235 points taken off when it was deregistered (sold), exactly the points its " +
            "allocation gave (catalogue version 1), whatever the catalogue says now. The catalogue now gives 300 points for EOS-R5 " +
            "(version 2).",
            "Manual adjustment by CPS support: +50 points. No catalogue value decides it; the reason and the ticket say why.",
        ], lines.Select(l => l.InWords));
        Assert.All(lines, l => Assert.Null(l.MigratedFromOldEmail));
    }

    [Fact]
    public async Task A_line_says_what_the_catalogue_gives_now_where_it_changed_and_keeps_the_points_allocated()
    {
        // "Why did I get 235 when the catalogue says 300?": the line keeps its 235 and says the 300 beside it.
        await App.ListModel(points: 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 40);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Complete("E-1"));
        await member.Register(account, Products.Complete("L-1", Products.Lens));
        await App.ChangeModelPoints(Products.R5, 300);

        // Read as JSON, as the portal reads it.
        var explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        var r5 = LineOf(explanation, "E-1");
        Assert.Equal((235, 235, 1, 300), (r5.GetProperty("points").GetInt32(), r5.GetProperty("catalogueValue").GetInt32(),
            r5.GetProperty("catalogueVersion").GetInt32(), r5.GetProperty("catalogueNowGives").GetInt32()));
        Assert.EndsWith("The catalogue now gives 300 points for EOS-R5 (version 2); the 235 points already allocated do not change.",
            r5.GetProperty("inWords").GetString());
        Assert.Equal(235 + 40, explanation.GetProperty("pointsTotal").GetInt32());
        // The lens's value is unchanged: nothing more to say.
        var lens = LineOf(explanation, "L-1");
        Assert.Equal(JsonValueKind.Null, lens.GetProperty("catalogueNowGives").ValueKind);
        Assert.DoesNotContain("now gives", lens.GetProperty("inWords").GetString());
        // Both models listed still: neither withdrawn.
        Assert.Equal((false, false), (r5.GetProperty("modelWithdrawn").GetBoolean(), lens.GetProperty("modelWithdrawn").GetBoolean()));

        // The product's own lines say the same as the explanation's.
        var product = (await member.GetAsync(Products.ProductsUrl(account)).ReadAs<JsonElement>()).EnumerateArray()
            .Single(p => p.GetProperty("serialNumber").GetString() == "E-1").GetProperty("pointsLines")[0];
        Assert.Equal(r5.GetProperty("inWords").GetString(), product.GetProperty("inWords").GetString());
        Assert.Equal(300, product.GetProperty("catalogueNowGives").GetInt32());
        // The catalogue back at the value allocated: nothing differs, nothing said.
        await App.ChangeModelPoints(Products.R5, 235);
        explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        Assert.Equal(JsonValueKind.Null, LineOf(explanation, "E-1").GetProperty("catalogueNowGives").ValueKind);

        static JsonElement LineOf(JsonElement explanation, string serial) =>
            explanation.GetProperty("lines").EnumerateArray().Single(l => l.GetProperty("serialNumber").GetString() == serial);
    }

    [Fact]
    public async Task A_line_says_its_model_was_withdrawn_rather_than_what_the_catalogue_now_gives()
    {
        // A withdrawn model is not on the catalogue's pages: support is told so, not sent looking for a value there.
        await App.ListModel(points: 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 40);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Complete("E-1"));
        await member.Register(account, Products.Complete("L-1", Products.Lens));
        await App.ChangeModelPoints(Products.R5, 300);
        await App.WithdrawModel(Products.R5);
        await App.WithdrawModel(Products.Lens);

        var lines = (await member.Explanation(account)).Lines;
        var r5 = lines.Single(l => l.SerialNumber == "E-1");
        Assert.EndsWith("The catalogue has since withdrawn EOS-R5 (version 3), its last value 300 points; the 235 points already " +
            "allocated do not change.", r5.InWords);
        Assert.Equal((300, true), (r5.CatalogueNowGives, r5.ModelWithdrawn));
        // Withdrawn at the value allocated: nothing differs, and the withdrawal is still said.
        var lens = lines.Single(l => l.SerialNumber == "L-1");
        Assert.EndsWith($"The catalogue has since withdrawn {Products.Lens} (version 2); the 40 points already allocated do not change.",
            lens.InWords);
        Assert.Equal((null, true), (lens.CatalogueNowGives, lens.ModelWithdrawn));
    }

    [Fact]
    public async Task A_product_waiting_for_details_says_what_completing_it_today_would_earn()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var pending = await member.Register(account, Products.WithoutDealer("P-1"));

        // An expectation from the catalogue now, not a fact: nothing is allocated, the total stays 0.
        var explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        Assert.Equal(235, explanation.GetProperty("awaitingDetails")[0].GetProperty("expectedPoints").GetInt32());
        Assert.Equal(0, explanation.GetProperty("pointsTotal").GetInt32());

        // The catalogue changes: the expectation follows it, and completing the details allocates that value.
        await App.ChangeModelPoints(Products.R5, 300);
        explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        Assert.Equal(300, explanation.GetProperty("awaitingDetails")[0].GetProperty("expectedPoints").GetInt32());
        // Withdrawn since registration, the model still earns its last value (ProductPoints.AllocateIfDue): still expected.
        await App.WithdrawModel(Products.R5);
        explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        Assert.Equal(300, explanation.GetProperty("awaitingDetails")[0].GetProperty("expectedPoints").GetInt32());
        var completed = await member.PatchJson(pending.Url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>();
        Assert.Equal(300, completed.Points);
    }

    [Fact]
    public async Task A_product_waiting_for_details_on_a_model_withdrawn_since_says_its_expected_points_are_the_last_value()
    {
        // "The catalogue's value now" of a model on none of the catalogue's pages sent support looking for it: the expectation says
        // that it is a withdrawn model's last value, in the explanation, My Products and the product read alike.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var pending = await member.Register(account, Products.WithoutDealer("P-1"));
        await member.Register(account, Products.Complete("C-1"));

        await Says(235, false);
        await App.ChangeModelPoints(Products.R5, 300);
        await App.WithdrawModel(Products.R5);
        await Says(300, true);
        // Completed: the points are the fact, nothing is expected, nothing said of it.
        await member.PatchJson(pending.Url, new { dealer = "Photopoint" });
        var explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
        Assert.Equal(0, explanation.GetProperty("awaitingDetails").GetArrayLength());
        var completed = await member.GetAsync(pending.Url).ReadAs<JsonElement>();
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null),
            (completed.GetProperty("expectedPoints").ValueKind, completed.GetProperty("expectedFromWithdrawnModel").ValueKind));

        async Task Says(int expected, bool withdrawn)
        {
            var waiting = (await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>())
                .GetProperty("awaitingDetails")[0];
            Assert.Equal((expected, withdrawn),
                (waiting.GetProperty("expectedPoints").GetInt32(), waiting.GetProperty("expectedFromWithdrawnModel").GetBoolean()));
            var products = await member.GetAsync(Products.ProductsUrl(account)).ReadAs<JsonElement>();
            var p1 = products.EnumerateArray().Single(p => p.GetProperty("serialNumber").GetString() == "P-1");
            var one = await member.GetAsync(pending.Url).ReadAs<JsonElement>();
            foreach (var product in new[] { p1, one })
                Assert.Equal((expected, withdrawn),
                    (product.GetProperty("expectedPoints").GetInt32(), product.GetProperty("expectedFromWithdrawnModel").GetBoolean()));
            // Allocated: nothing expected, so nothing said of where the expectation comes from.
            var c1 = products.EnumerateArray().Single(p => p.GetProperty("serialNumber").GetString() == "C-1");
            Assert.Equal(JsonValueKind.Null, c1.GetProperty("expectedFromWithdrawnModel").ValueKind);
        }
    }

    [Fact]
    public async Task My_products_says_what_a_product_waiting_for_details_would_earn_as_the_explanation_does()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var pending = await member.Register(account, Products.WithoutDealer("P-1"));
        await member.Register(account, Products.Complete("C-1"));

        await Says(235);
        // The catalogue changes: My Products follows it as the explanation does (one decision, AccountPoints.ExpectedPoints).
        await App.ChangeModelPoints(Products.R5, 300);
        await Says(300);

        async Task Says(int expected)
        {
            var explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<JsonElement>();
            Assert.Equal(expected, explanation.GetProperty("awaitingDetails")[0].GetProperty("expectedPoints").GetInt32());
            var whole = await member.GetAsync(Products.ProductsUrl(account)).ReadAs<JsonElement>();
            var page = (await member.GetAsync($"{Products.ProductsUrl(account)}?pageSize=5").ReadAs<JsonElement>()).GetProperty("items");
            foreach (var products in new[] { whole, page })
            {
                Assert.Equal(expected, BySerial(products, "P-1").GetProperty("expectedPoints").GetInt32());
                // Allocated: nothing is expected any more, the points are the fact.
                Assert.Equal(JsonValueKind.Null, BySerial(products, "C-1").GetProperty("expectedPoints").ValueKind);
            }
            var one = await member.GetAsync(pending.Url).ReadAs<JsonElement>();
            Assert.Equal(expected, one.GetProperty("expectedPoints").GetInt32());
        }

        static JsonElement BySerial(JsonElement products, string serial) =>
            products.EnumerateArray().Single(p => p.GetProperty("serialNumber").GetString() == serial);
    }

    [Fact]
    public async Task A_line_in_words_says_which_details_are_best_guesses_and_that_they_earn_points_as_exact_ones()
    {
        // The member on the phone: "I guessed the purchase date and the dealer; do those points count?" The line says so.
        await App.ListModel(points: 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var guessed = await member.Register(account, new
        {
            modelCode = Products.R5,
            serialNumber = "E-1",
            purchaseDate = "2021-06-01",
            countryOfPurchase = "EE",
            dealer = "Photopoint",
            bestGuesses = new[] { "purchase_date", "dealer" },
        });
        await member.Register(account, Products.Complete("L-1", Products.Lens));
        await (await member.PostJson($"{guessed.Url}/deregistration", new { reason = "registered_in_error" })).ShouldBe(HttpStatusCode.OK);

        var lines = (await member.Explanation(account)).Lines;
        Assert.Equal(
        [
            "EOS R5 (EOS-R5, Camera bodies (EOS)): 235 points, the catalogue's value for EOS-R5 (version 1) in force when its four " +
            "mandatory details were complete. A later change of the catalogue does not alter it. Its purchase date and dealer are " +
            "best guesses, which earn points as exact details do.",
            "EF 40mm f/2.8 STM (EF-40-STM, Lenses (RF, EF, EF-S)): 15 points, the catalogue's value for EF-40-STM (version 1) in force " +
            "when its four mandatory details were complete. A later change of the catalogue does not alter it.",
            "EOS R5 (EOS-R5, Camera bodies (EOS)): 235 points taken off when it was deregistered (registered in error), exactly the " +
            "points its allocation gave (catalogue version 1), whatever the catalogue says now.",
        ], lines.Select(l => l.InWords));
        // My Products says the same on the product's own lines.
        var listed = await member.GetAsync($"{Products.ProductsUrl(account)}?includeDeregistered=true").ReadAs<List<ProductView>>();
        Assert.Equal(lines.Where(l => l.SerialNumber == "E-1").Select(l => l.InWords),
            listed.Single(p => p.SerialNumber == "E-1").PointsLines.Select(l => l.InWords));
    }

    [Fact]
    public async Task Each_points_line_names_its_product_s_category_by_code()
    {
        // A portal groups the explanation by category ("Lenses: 15 points"); the words name it, the code lets it group. The
        // category is the one the product was registered with; an adjustment has none.
        await App.ListModel(Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Complete("E-1"));
        await member.Register(account, Products.Complete("L-1", Products.Lens));
        await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 50, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-9" })).ShouldBe(HttpStatusCode.Created);

        var lines = (await member.Explanation(account)).Lines;
        Assert.Equal([("EOS-R5", "camera_body"), ("EF-40-STM", "lens"), (null, null)], lines.Select(l => (l.ModelCode, l.Category)));
        var listed = await member.GetAsync(Products.ProductsUrl(account)).ReadAs<List<ProductView>>();
        Assert.All(listed, p => Assert.All(p.PointsLines, l => Assert.Equal(p.Category, l.Category)));
        Assert.Equal(2, listed.SelectMany(p => p.PointsLines).Count());
    }

    [Fact]
    public async Task Products_migrated_at_the_same_instant_are_listed_in_one_order_on_every_read()
    {
        // A migration registers its products in one transaction, all at one instant: "newest first" alone left their order to
        // the database, and My Products reshuffled between two reads (seen walking the API tour).
        await App.ListModel();
        var rows = Enumerable.Range(1, 8).Select(i => $"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},EOS-R5,SN-{i:00},2019-03-01,EE,")
            .ToArray();
        await App.ImportLegacy(LegacyFiles.Csv(rows));
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        Assert.Equal(8, (await member.Migrate(account)).Migrated);

        var listed = await member.GetAsync(Products.ProductsUrl(account)).ReadAs<List<ProductView>>();
        Assert.Single(listed.Select(p => p.RegisteredAt).Distinct());
        // Newest first, then by id: the same order whatever the rows' order in the table.
        var expected = listed.OrderByDescending(p => p.RegisteredAt).ThenByDescending(p => p.Id.ToString(), StringComparer.Ordinal)
            .Select(p => p.Id).ToList();
        Assert.Equal(expected, listed.Select(p => p.Id));
        var withDeregistered = await member.GetAsync(Products.ProductsUrl(account) + "?includeDeregistered=true").ReadAs<List<ProductView>>();
        Assert.Equal(expected, withDeregistered.Select(p => p.Id));

        // The explanation lists the same products waiting for their dealer, oldest first: the list's order reversed.
        var awaiting = (await member.Explanation(account)).AwaitingDetails;
        Assert.Equal(Enumerable.Reverse(expected), awaiting.Select(p => p.RegistrationId));
    }

    [Fact]
    public async Task An_idempotent_retry_of_a_registration_registers_once()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var first = await member.PostJson(Products.ProductsUrl(account), Products.Complete(), idempotencyKey: "reg-1");
        var again = await member.PostJson(Products.ProductsUrl(account), Products.Complete(), idempotencyKey: "reg-1");
        Assert.Equal((await first.ShouldBe(HttpStatusCode.Created)).GetRawText(), (await again.ShouldBe(HttpStatusCode.Created)).GetRawText());
        Assert.Equal(1, (await member.Summary(account)).Products);
    }

    private async Task<int> EventCount(Guid? stream = null)
    {
        await using var session = App.Store.QuerySession();
        return stream is { } id
            ? await session.Events.QueryAllRawEvents().Where(e => e.StreamId == id).CountAsync()
            : await session.Events.QueryAllRawEvents().CountAsync();
    }
}
