using System.Net;
using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using Marten;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>The fold-and-copy rebuild gives back exactly the documents the inline projections wrote.</summary>
public sealed class FastRebuildTests(LedgerApp app) : LedgerTest(app)
{
    // Points lines projected before they kept their event's role (docs/operations.md): verification names each role the replay
    // gives them, and a rebuild of the two projections writes it.
    [Fact]
    public async Task Points_lines_stored_without_their_role_get_it_from_a_fast_rebuild_and_verification_names_them_until_then()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("roles@studio.example");
        var product = await App.Tracked(() => App.Member(account).Register(account, Products.Products.Complete("FR-ROLE-1")));
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 40, reason = "Lost in the outage", ticketReference = "CPS-1" })).ShouldBe(HttpStatusCode.Created));
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            foreach (var sql in new[]
                     {
                         $"update {App.SchemaName}.mt_doc_productview set data = data #- '{{PointsLines,0,Role}}' where id = '{product.RegistrationId}'",
                         $"update {App.SchemaName}.mt_doc_accountadjustments set data = data #- '{{Adjustments,0,Role}}' where id = '{account}'",
                     })
                Assert.Equal(1, await new NpgsqlCommand(sql, connection).ExecuteNonQueryAsync());
        }

        var url = $"/api/audit/verification?accountId={account}";
        var before = await App.ClientAs(LedgerRoles.Auditor).GetAsync(url).ReadAs<CpsLedger.Api.Audit.VerificationReport>();
        Assert.Equal([("AccountAdjustments", "$.Adjustments[0].Role", null, "\"support\""), ("ProductView", "$.PointsLines[0].Role", null, "\"member\"")],
            before.Differences.Select(d => (d.Document, d.Field, d.Stored, d.Replayed)).Order());

        await new FastRebuild(App.Store).RebuildAsync(["ProductView", "AccountAdjustments"], CancellationToken.None);
        var after = await App.ClientAs(LedgerRoles.Auditor).GetAsync(url).ReadAs<CpsLedger.Api.Audit.VerificationReport>();
        Assert.True(after.Agrees, string.Join("; ", after.Differences));
        var lines = (await App.Member(account).Explanation(account)).Lines;
        Assert.Equal([("CPS support", "support"), ("kadri", "member")], lines.Select(l => (l.By, l.Role)).Order());
    }

    [Fact]
    public async Task A_fast_rebuild_of_every_single_stream_projection_gives_back_the_stored_documents_and_their_progression()
    {
        // A ledger with every kind of stream: accounts, products (one completed, one deregistered), a manual adjustment, a
        // membership with an invoice paid by card, the tier table, catalogue models and imported old accounts.
        await CpsLedger.Tests.Invoicing.Billing.ListThousandPointModel(App.Store);
        var joined = await CpsLedger.Tests.Invoicing.Billing.JoinedAccount(App, "EE", "card", "tok_sandbox_approve");
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromHours(3));
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("fast-rebuild@studio.example");
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.WithoutDealer("FR-1"));
        // Tracked until the invitation reviews these points events set off have been handled: the documents are then final.
        await App.Tracked(async () =>
        {
            await (await member.PatchJson(product.Url, new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
            var gone = await member.Register(account, Products.Products.Complete("FR-2"));
            await (await member.PostJson($"{gone.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
            await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
                new { points = 40, reason = "Lost in the outage", ticketReference = "CPS-1" })).ShouldBe(HttpStatusCode.Created);
        });
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);

        var rebuild = new FastRebuild(App.Store);
        var projections = rebuild.Projections;
        Assert.Contains("ProductView", projections);
        Assert.Contains(typeof(SerialOwnershipProjection).FullName, projections);
        Assert.Contains(typeof(CpsLedger.Api.Support.SupportOverrideProjection).FullName, projections);
        var tables = rebuild.SingleStreamProjections.Select(p => p.Document).Append(typeof(SerialOwnership))
            .Append(typeof(CpsLedger.Api.Support.SupportOverride)).ToList();
        var before = await Documents(tables);
        Assert.Contains(before, d => d.StartsWith("mt_doc_invoice ", StringComparison.Ordinal));
        Assert.Contains(before, d => d.StartsWith("mt_doc_serialownership ", StringComparison.Ordinal));
        Assert.Contains(before, d => d.StartsWith("mt_doc_supportoverride ", StringComparison.Ordinal));

        using var statements = new SentStatements();
        IReadOnlyList<FastRebuildResult> results;
        using (statements.Enter())
            results = await rebuild.RebuildAsync(null, CancellationToken.None);

        Assert.Equal(projections, results.Select(r => r.Projection));
        // One read of the events per lane, not one per projection (each of which, with no index on the event type, would be a
        // whole scan of the event table); the claims come from ProductView's read. The support overrides read their own few.
        var reads = statements.Texts.Where(t => t.Contains("mt_events where type = any", StringComparison.Ordinal)
                                                && t.Contains("order by", StringComparison.Ordinal)).ToList();
        Assert.Equal(rebuild.Parallelism, reads.Count(t => !t.Contains("headers ?&", StringComparison.Ordinal)));
        Assert.Single(reads, t => t.Contains("headers ?&", StringComparison.Ordinal));
        var after = await Documents(tables);
        Assert.Equal(before.Count, after.Count);
        // Document by document, so that a difference is shown whole.
        foreach (var (stored, rebuilt) in before.Zip(after))
            Assert.Equal(stored, rebuilt);
        // Each projection's shard is at the last event it read, as Marten's rebuild leaves it.
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        foreach (var name in projections)
        {
            await using var command = new NpgsqlCommand($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = $1", connection);
            command.Parameters.AddWithValue($"{name}:All");
            Assert.True(await command.ExecuteScalarAsync() is long seq && seq > 0, name);
        }

        // And the service goes on deciding on them (the snapshots' versions are what optimistic concurrency expects).
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/audit/verification").ReadAs<CpsLedger.Api.Audit.VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
        await member.Register(account, Products.Products.Complete("FR-3"));
        await (await member.PatchJson(product.Url, new { dealer = "Foto Pood" })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_fast_rebuild_of_the_serial_claims_gives_the_rows_and_progression_of_Martens_rebuild()
    {
        await App.ListModel();
        var first = await App.OpenAccount("first-owner@studio.example");
        var second = await App.OpenAccount("second-owner@studio.example");
        var firstMember = App.Member(first);
        var secondMember = App.Member(second);
        // A serial sold by one account and registered by another, a serial moved by an amendment and the old one claimed by the
        // other account, a serial freed by a younger stream and then claimed by an older one (stream order is not event order),
        // a registration without a serial, and one that stays put.
        // Tracked until the invitation reviews they set off are handled: the second account passes 500 points, and its
        // invitation, appended up to a review batch later, must not land after the high-water mark is read below.
        await App.Tracked(async () =>
        {
            var sold = await firstMember.Register(first, Products.Products.Complete("CLAIM-1"));
            await (await firstMember.PostJson($"{sold.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
            await secondMember.Register(second, Products.Products.Complete("CLAIM-1"));
            var moved = await secondMember.Register(second, Products.Products.Complete("CLAIM-2"));
            await (await secondMember.PatchJson(moved.Url, new { serialNumber = "CLAIM-3" })).ShouldBe(HttpStatusCode.OK);
            await firstMember.Register(first, Products.Products.Complete("CLAIM-2"));
            var older = await secondMember.Register(second, Products.Products.Complete("CLAIM-5"));
            var younger = await firstMember.Register(first, Products.Products.Complete("CLAIM-6"));
            await (await firstMember.PostJson($"{younger.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
            await (await secondMember.PatchJson(older.Url, new { serialNumber = "CLAIM-6" })).ShouldBe(HttpStatusCode.OK);
            await (await firstMember.PostJson(Products.Products.ProductsUrl(first), new { modelCode = Products.Products.R5 })).ShouldBe(HttpStatusCode.Created);
            await firstMember.Register(first, Products.Products.Complete("CLAIM-4"));
        });

        await using (var query = App.Store.QuerySession())
            Assert.Single(await query.Events.QueryRawEventDataOnly<CpsLedger.Api.Membership.InvitationIssued>().ToListAsync());

        var inline = await Documents([typeof(SerialOwnership)]);
        Assert.Equal(5, inline.Count);
        var name = typeof(SerialOwnershipProjection).FullName!;
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            await daemon.RebuildProjectionAsync<SerialOwnershipProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);
            await daemon.RebuildProjectionAsync("ProductView", TimeSpan.FromMinutes(1), CancellationToken.None);
        }
        var martens = await Documents([typeof(SerialOwnership)]);
        // Marten's rebuild of these inline projections, the claims and the single-stream ProductView, leaves no progression row
        // of its own (Marten 9.58, and 9.62 for both): should a later Marten write one, ARCHITECTURE.md's account of the fast
        // rebuild needs checking again.
        Assert.Equal(0L, await Scalar($"select count(*) from {App.SchemaName}.mt_event_progression where name like '{name}%'"));
        Assert.Equal(0L, await Scalar($"select count(*) from {App.SchemaName}.mt_event_progression where name like 'ProductView%'"));
        var highWater = await Scalar($"select max(seq_id) from {App.SchemaName}.mt_events");
        var indexes = await Indexes("mt_doc_serialownership");
        Assert.Equal(3, indexes.Count);
        var constraints = await Constraints("mt_doc_serialownership");
        Assert.Contains("pkey_mt_doc_serialownership_id: PRIMARY KEY (id)", constraints);
        var results = await new FastRebuild(App.Store).RebuildAsync([name], CancellationToken.None);

        Assert.Equal(5, results.Single().Documents);
        // Its indexes and primary key, built after the COPY, are back as Marten defined them.
        Assert.Equal(indexes, await Indexes("mt_doc_serialownership"));
        Assert.Equal(constraints, await Constraints("mt_doc_serialownership"));
        Assert.Equal(inline, martens);
        Assert.Equal(martens, await Documents([typeof(SerialOwnership)]));
        // Each claim a fresh revision of its own, a version 7 Guid as Marten's inserts write (not the column's md5 default).
        Assert.Equal(5L, await Scalar($"select count(distinct mt_version) from {App.SchemaName}.mt_doc_serialownership where substr(mt_version::text, 15, 1) = '7'"));
        // Its shard at the event store's high-water mark, as for the single-stream projections. (Marten's rebuild of this inline
        // projection, above, leaves no row of its own: asserted above, for ProductView too.)
        Assert.Equal(highWater, await Scalar($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = '{name}:All'"));
        // Rebuilt with ProductView, the claims come from the changes ProductView's fold collects (the product events read once, in
        // stream order, replayed in event order): the same rows, and ProductView's documents as they were.
        var views = await Documents([typeof(ProductView)]);
        var together = await new FastRebuild(App.Store).RebuildAsync([name, "ProductView"], CancellationToken.None);
        Assert.Equal(["ProductView", name], together.Select(r => r.Projection));
        Assert.Equal(results.Single().Events, together[1].Events);
        Assert.Equal(5, together[1].Documents);
        Assert.Equal(martens, await Documents([typeof(SerialOwnership)]));
        Assert.Equal(views, await Documents([typeof(ProductView)]));
        Assert.Equal(highWater, await Scalar($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = '{name}:All'"));

        // The rebuilt claims still refuse a second owner.
        await (await firstMember.PostJson(Products.Products.ProductsUrl(first), Products.Products.Complete("CLAIM-3"))).ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task The_fast_rebuild_of_the_support_overrides_gives_the_rows_of_Martens_rebuild_from_the_events_that_can_be_one()
    {
        // Support opening an account and registering a product on the member's behalf (overrides, the points the registration
        // allocated too), the member registering one itself (none), support's own adjustment (always one).
        await App.ListModel(points: 235);
        var support = App.ClientAs(LedgerRoles.Support, subject: "support-anna");
        var account = (await support.PostJson("/api/accounts", CpsLedger.Tests.Support.OnBehalf.BySupport(Accounts.Accounts.Opening("overrides@studio.example")))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        await App.Tracked(async () =>
        {
            await support.Register(account, Products.Products.BySupport(Products.Products.Complete("OV-1")));
            await App.Member(account).Register(account, Products.Products.Complete("OV-2"));
            await (await support.PostJson($"/api/accounts/{account}/points-adjustments",
                new { points = 40, reason = "Lost in the outage", ticketReference = "CPS-3" })).ShouldBe(HttpStatusCode.Created);
        });
        var overrides = typeof(CpsLedger.Api.Support.SupportOverride);
        var inline = await Documents([overrides]);
        Assert.Equal(4, inline.Count);
        var name = typeof(CpsLedger.Api.Support.SupportOverrideProjection).FullName!;
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync(name, TimeSpan.FromMinutes(1), CancellationToken.None);
        var martens = await Documents([overrides]);
        Assert.Equal(inline, martens);
        await Scalar($"with gone as (delete from {App.SchemaName}.mt_doc_supportoverride returning 1) select count(*) from gone");
        var highWater = await Scalar($"select max(seq_id) from {App.SchemaName}.mt_events");

        var result = Assert.Single(await new FastRebuild(App.Store).RebuildAsync([name], CancellationToken.None));

        Assert.Equal(martens, await Documents([overrides]));
        // Only the events that can be an override were read: the four, not the member's own registration and its points, nor the
        // other accounts' events of the same types.
        Assert.Equal((4L, 4L), (result.Events, result.Documents));
        Assert.Equal(highWater, await Scalar($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = '{name}:All'"));
    }

    [Fact]
    public async Task Rebuilding_every_projection_gives_back_the_event_projection_left_to_Martens_daemon_too()
    {
        // A support adjustment (a support override row) and the documents the fast rebuild folds; the old e-mail claims (an event
        // projection the fast rebuild leaves to the daemon) rebuilt beside them.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("every-projection@studio.example");
        await App.Member(account).Register(account, Products.Products.Complete("EP-1"));
        await App.Tracked(async () =>
            await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
                new { points = 40, reason = "Lost in the outage", ticketReference = "CPS-2" })).ShouldBe(HttpStatusCode.Created));
        var rebuild = new FastRebuild(App.Store);
        var tables = rebuild.SingleStreamProjections.Select(p => p.Document).Append(typeof(SerialOwnership))
            .Append(typeof(CpsLedger.Api.Support.SupportOverride)).ToList();
        var before = await Documents(tables);
        Assert.Contains(before, d => d.StartsWith("mt_doc_supportoverride ", StringComparison.Ordinal));
        // The override row lost, as a projection's table can be: a rebuild brings it back.
        await Scalar($"with gone as (delete from {App.SchemaName}.mt_doc_supportoverride returning 1) select count(*) from gone");

        var results = await rebuild.RebuildEveryProjectionAsync(CancellationToken.None);

        var stored = ((DocumentStore)App.Store).Options.Projections.All.Where(p => p.Lifecycle != JasperFx.Events.Projections.ProjectionLifecycle.Live)
            .Select(p => p.Name).Order().ToList();
        Assert.Equal(stored, results.Select(r => r.Projection).Order());
        Assert.Equal([typeof(CpsLedger.Api.Migration.OldCpsEmailClaimProjection).FullName],
            results.Where(r => r.ByMartensDaemon).Select(r => r.Projection));
        Assert.Equal(before, await Documents(tables));

        // The command an operator runs does the same and says which projection went which way.
        await Scalar($"with gone as (delete from {App.SchemaName}.mt_doc_supportoverride returning 1) select count(*) from gone");
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "projections-fast-rebuild");
        Assert.True(exit == 0, output);
        Assert.Contains($"{typeof(CpsLedger.Api.Migration.OldCpsEmailClaimProjection).FullName}: rebuilt by Marten's daemon in ", output);
        Assert.Contains($"{typeof(CpsLedger.Api.Support.SupportOverrideProjection).FullName}: 1 event folded into 1 document in ", output);
        Assert.Contains("ProductView: 2 events folded into 1 document in ", output);
        Assert.Equal(before, await Documents(tables));
    }

    [Fact]
    public async Task A_fast_rebuild_of_a_projection_it_does_not_know_or_cannot_fold_changes_nothing_and_says_why()
    {
        var rebuild = new FastRebuild(App.Store);

        var unknown = await Assert.ThrowsAsync<FastRebuildRefusedException>(() => rebuild.RebuildAsync(["ProductVeiw"], CancellationToken.None));
        Assert.Contains("ProductVeiw", unknown.Message);
        Assert.Contains("ProductView", unknown.Message);
        var daemonOnly = typeof(CpsLedger.Api.Migration.OldCpsEmailClaimProjection).FullName!;
        var other = await Assert.ThrowsAsync<FastRebuildRefusedException>(() => rebuild.RebuildAsync([daemonOnly, "ProductView"], CancellationToken.None));
        Assert.Contains("projections rebuild", other.Message);
        // Refused before anything began: no progression row was written.
        Assert.Equal(0L, await Scalar($"select count(*) from {App.SchemaName}.mt_event_progression where name = 'ProductView:All'"));
    }

    [Fact]
    public async Task The_rebuilds_event_reader_gives_every_event_as_Martens_own_event_query_does()
    {
        // Events of several types and streams, with the metadata the ledger writes: user, correlation id, and the headers of
        // the invitation the review appends for the 705 points.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("event-reader@studio.example");
        var member = App.Member(account);
        await App.Tracked(async () =>
        {
            var product = await member.Register(account, Products.Products.WithoutDealer("RD-1"));
            await (await member.PatchJson(product.Url, new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
            await member.Register(account, Products.Products.Complete("RD-2"));
            await member.Register(account, Products.Products.Complete("RD-3"));
        });
        await using var session = App.Store.QuerySession();
        var martens = await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync();
        Assert.True(martens.Count >= 4, $"{martens.Count} events");

        var ours = new List<JasperFx.Events.IEvent>();
        await foreach (var e in new FastRebuild(App.Store).ReadEventsAsync(martens.Select(e => e.EventType).Distinct(), "seq_id", CancellationToken.None))
            ours.Add(e);

        Assert.Equal(martens.Count, ours.Count);
        // Every property IEvent has, so that one JasperFx adds later is compared too; the data and headers as JSON.
        var properties = typeof(JasperFx.Events.IEvent).GetProperties().Where(p => p.Name is not ("Data" or "Headers" or "Tags")).ToList();
        Assert.Contains(properties, p => p.Name == "Id");
        foreach (var (marten, our) in martens.Zip(ours))
        {
            Assert.Equal(marten.GetType(), our.GetType());
            foreach (var property in properties)
                Assert.True(Equals(property.GetValue(marten), property.GetValue(our)),
                    $"{marten.EventTypeName} #{marten.Sequence} {property.Name}: Marten {property.GetValue(marten)}, ours {property.GetValue(our)}");
            Assert.Equal(JsonSerializer.Serialize(marten.Data, marten.EventType), JsonSerializer.Serialize(our.Data, our.EventType));
            Assert.Equal(JsonSerializer.Serialize(marten.Headers), JsonSerializer.Serialize(our.Headers));
            Assert.Null(our.Tags);
        }

        Assert.Contains(ours, e => e.Headers is { Count: > 0 });
        Assert.Contains(ours, e => e.UserName is not null && e.CorrelationId is not null);
    }

    [Fact]
    public async Task A_fast_rebuild_that_fails_leaves_the_claims_and_their_indexes_as_they_were()
    {
        await App.ListModel();
        var account = await App.OpenAccount("twice-claimed@studio.example");
        await App.Member(account).Register(account, Products.Products.Complete("TWICE-1"));
        // A log no handler writes: a second registration of the same serial, appended past the claim (whose row is taken out
        // first so that the inline projection takes it). Replayed in event order, the second claim fails, as its insert would.
        SerialOwnership held;
        await using (var session = App.Store.LightweightSession())
        {
            held = (await session.Query<SerialOwnership>().ToListAsync()).Single();
            session.Delete(held);
            await session.SaveChangesAsync();
            var second = Guid.NewGuid();
            session.Events.StartStream(second, new ProductRegistered(second, account, held.Id.Split('|')[0], "Twice", "camera_body", held.SerialNumber,
                null, null, null, [], RegistrationSource.Registration, DateTimeOffset.UtcNow));
            await session.SaveChangesAsync();
        }

        var claims = await Documents([typeof(SerialOwnership)]);
        var indexes = await Indexes("mt_doc_serialownership");
        var constraints = await Constraints("mt_doc_serialownership");
        var name = typeof(SerialOwnershipProjection).FullName!;

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => new FastRebuild(App.Store).RebuildAsync([name], CancellationToken.None));

        Assert.Contains("replayed twice", failure.Message);
        Assert.Single(claims);
        Assert.Equal(claims, await Documents([typeof(SerialOwnership)]));
        Assert.Equal(indexes, await Indexes("mt_doc_serialownership"));
        Assert.Equal(constraints, await Constraints("mt_doc_serialownership"));
        Assert.Null(await Scalar($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = '{name}:All'"));
    }

    [Fact]
    public async Task A_projections_rebuild_time_includes_its_commit()
    {
        // The commit's last statements (the progression's row, then the commit) held up for a second by a lock on the
        // progression table: a time read before the commit, as it was until 2026-12-03, stays far under that second.
        await using var locker = new NpgsqlConnection(App.ConnectionString);
        await locker.OpenAsync();
        await using var holding = await locker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand($"lock table {App.SchemaName}.mt_event_progression in exclusive mode", locker, holding))
            await lockTable.ExecuteNonQueryAsync();

        var rebuilding = new FastRebuild(App.Store).RebuildAsync(["TierTableView"], CancellationToken.None);
        await FaultWaits.Until(async () => await Scalar(
                $"select count(*) from pg_locks where not granted and relation = '{App.SchemaName}.mt_event_progression'::regclass") is > 0L,
            "the rebuild waiting on the progression's lock", TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(1));
        await holding.CommitAsync();
        var result = Assert.Single(await rebuilding);

        Assert.True(result.Elapsed >= TimeSpan.FromSeconds(1), $"the rebuild took {result.Elapsed.TotalMilliseconds:F0} ms by its own time");
    }

    [Fact]
    public async Task The_copys_JSON_is_Martens_with_every_objects_members_in_the_order_jsonb_keeps_them()
    {
        var view = new ProductView
        {
            Id = Guid.NewGuid(),
            AccountId = Guid.NewGuid(),
            ModelCode = "R5",
            ModelName = "EOS R5",
            Category = "camera_body",
            SerialNumber = "SN 1",
            PurchaseDate = new DateOnly(2026, 1, 2),
            CountryOfPurchase = "EE",
            Dealer = "Photopoint",
            BestGuesses = [MandatoryDetail.PurchaseDate],
            MissingDetails = [MandatoryDetail.SerialNumber],
            GreenTick = true,
            Points = 120,
            Source = RegistrationSource.Migration,
            RegisteredAt = DateTimeOffset.UnixEpoch,
            Deregistered = true,
            DeregistrationReason = DeregistrationReason.Sold,
            DeregistrationNote = "note",
            DeregisteredAt = DateTimeOffset.UnixEpoch,
            PointsLines = [new PointsLine(Guid.NewGuid(), "R5", "EOS R5", "SN 1", 120, 120, 3, "PointsAllocated", Guid.NewGuid(),
                DateTimeOffset.UnixEpoch, "support:agent", "why", "CPS-1", new CpsLedger.Api.Platform.CausedBy("owner@studio.example", "c-1", "member"), "support")],
        };
        var marten = App.Store.Options.Serializer();
        var json = Written(DocumentCopy.InJsonbOrder(marten), view);

        // The same JSON as Marten's ...
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(Written(marten, view)),
            System.Text.Json.Nodes.JsonNode.Parse(json)));
        // ... with each object's keys already where PostgreSQL puts them.
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select $1::jsonb::text", connection);
        command.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Jsonb, json);
        Assert.Equal(KeysOf((string)(await command.ExecuteScalarAsync())!), KeysOf(json));
    }

    private static string Written(Marten.ISerializer serializer, object document)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        serializer.WriteTo(buffer, document);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    // Every object's keys in the order written, depth first.
    private static List<string> KeysOf(string json)
    {
        var keys = new List<string>();
        void Walk(JsonElement element)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                keys.Add(string.Join(",", element.EnumerateObject().Select(p => p.Name)));
                foreach (var property in element.EnumerateObject())
                    Walk(property.Value);
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                    Walk(item);
            }
        }

        using var document = JsonDocument.Parse(json);
        Walk(document.RootElement);
        return keys;
    }

    [Fact]
    public void Replaying_a_second_claim_of_a_serial_already_held_fails_as_the_insert_would()
    {
        var claims = new Dictionary<string, SerialOwnership>();
        var first = new ProductRegistered(Guid.NewGuid(), Guid.NewGuid(), "R5", "EOS R5", "camera_body", "SN 1", null, null, null, [],
            RegistrationSource.Registration, DateTimeOffset.UnixEpoch);
        SerialOwnershipProjection.Replay(claims, first);
        Assert.Throws<InvalidOperationException>(() =>
            SerialOwnershipProjection.Replay(claims, first with { RegistrationId = Guid.NewGuid(), AccountId = Guid.NewGuid() }));
    }

    private Task<List<string>> Constraints(string table) => TableCatalog(
        "select conname || ': ' || pg_get_constraintdef(oid) from pg_constraint where conrelid = ($1 || '.' || $2)::regclass order by 1", table);

    private Task<List<string>> Indexes(string table) => TableCatalog(
        "select indexname || ': ' || indexdef from pg_indexes where schemaname = $1 and tablename = $2 order by 1", table);

    // One line per row of a catalog query about a table of the ledger's schema ($1 the schema, $2 the table).
    private async Task<List<string>> TableCatalog(string sql, string table)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue(App.SchemaName);
        command.Parameters.AddWithValue(table);
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            lines.Add(reader.GetString(0));
        return lines;
    }

    private async Task<long?> Scalar(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync() as long?;
    }

    private Task<List<string>> Documents(IEnumerable<Type> documents) =>
        StoredDocuments.RowsAsync(App.ConnectionString, App.SchemaName, documents, tablesMustExist: true);
}
