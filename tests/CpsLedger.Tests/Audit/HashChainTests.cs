using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Tests.Audit;

/// <summary>Tamper evidence: edits, deletions and reorderings of stored events are found and located.</summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class HashChainTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor);

    private async Task<(Guid Account, Guid Registration)> AccountWithHistory(bool listsTheModel = true, string serials = "HC")
    {
        if (listsTheModel)
            await App.ListModel(points: 300); // two products: 600 points, so the account is invited too
        var account = await App.OpenAccount($"{serials.ToLowerInvariant()}@studio.example");
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.WithoutDealer($"{serials}-1"));
        // Tracked until the invitation reviews these set off have appended to the membership stream.
        await App.Tracked(async () =>
        {
            await (await member.PatchJson(product.Url, new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
            await member.Register(account, Products.Products.Complete($"{serials}-2"));
        });
        return (account, product.RegistrationId);
    }

    private Task<VerificationReport> Verify(Guid account) =>
        Auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();

    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> SequenceOf(Guid stream, string type)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select seq_id from cpsledger_tests.mt_events where stream_id = @s and type = @t order by seq_id limit 1", connection);
        command.Parameters.AddWithValue("s", stream);
        command.Parameters.AddWithValue("t", type);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Every_event_of_an_account_is_chained_in_the_appending_transaction_and_verifies_clean()
    {
        var (account, _) = await AccountWithHistory();
        var report = await Verify(account);
        Assert.True(report.Agrees, string.Join("; ", report.ChainBreaks));

        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from cpsledger_tests.account_chain where chain_id = @a", connection);
        command.Parameters.AddWithValue("a", account);
        // Opened, registered, amended, allocated, registered, allocated, invited.
        Assert.Equal(7L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_whole_ledgers_check_in_parts_on_several_connections_finds_what_one_connection_finds()
    {
        // Several accounts, each with an edited event: split by chain, the parts must find every break, each once, in order.
        var edited = new List<Guid>();
        for (var i = 0; i < 6; i++)
        {
            var (account, registration) = await AccountWithHistory(listsTheModel: i == 0, serials: $"HC{i}");
            var sequence = await SequenceOf(registration, "product_details_amended");
            await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where seq_id = {sequence}");
            edited.Add(account);
        }

        var chains = App.Services.GetRequiredService<ChainVerification>();
        var whole = await chains.VerifyAsync(null, null, CancellationToken.None);
        Assert.Equal(edited.Order(), whole.Where(b => b.Problem == "edited").Select(b => b.ChainId).Order());
        foreach (var connections in new[] { 2, 3, 7 })
            Assert.Equal(whole, await chains.VerifyAsync(null, null, CancellationToken.None, connections));
    }

    [Fact]
    public async Task One_edited_byte_of_a_stored_event_is_found_at_its_link()
    {
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "product_details_amended");
        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Photopoinu\"') where seq_id = {sequence}");

        var found = Assert.Single((await Verify(account)).ChainBreaks);
        Assert.Equal(("edited", sequence, 3L), (found.Problem, found.Sequence, found.Position));
    }

    [Fact]
    public async Task An_altered_stored_hash_is_named_at_its_own_link_as_such_and_the_next_event_is_not_called_edited()
    {
        // Altering only link 3's stored hash broke links 3 and 4: verification said two events were edited, none was.
        var (account, registration) = await AccountWithHistory();
        var amended = await SequenceOf(registration, "product_details_amended");
        await Sql($"update cpsledger_tests.account_chain set hash = sha256(hash) where chain_id = '{account}' and position = 3");

        var found = Assert.Single((await Verify(account)).ChainBreaks);
        Assert.Equal(("hash_altered", amended, 3L), (found.Problem, found.Sequence, found.Position));
        var history = await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>();
        Assert.Equal([(amended, "hash_altered")], history.Items.Where(i => i.ChainProblem is not null).Select(i => (i.Sequence, i.ChainProblem)));

        // The event edited as well: then it is no longer the one the next link chained over, and is called edited (the next link,
        // chained over a hash no longer stored nor recomputable, breaks too: nothing can tell it from an edit of its own).
        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where seq_id = {amended}");
        Assert.Equal((amended, "edited"), (await Verify(account)).ChainBreaks.Select(b => (b.Sequence!.Value, b.Problem)).First());
    }

    [Fact]
    public async Task Every_edited_event_of_a_chain_is_named_by_verification_the_hash_chain_and_the_history_not_only_the_first()
    {
        var (account, registration) = await AccountWithHistory();
        var amended = await SequenceOf(registration, "product_details_amended");
        var opened = await SequenceOf(account, "business_account_opened");
        var invited = await SequenceOf(Api.Membership.MembershipStream.For(account), "invitation_issued");
        // Two edits further on in the account's chain than a first one: who made a change, and what it changed.
        await Sql($$"""
            update cpsledger_tests.mt_events set data = jsonb_set(data, '{CompanyName}', '"Forged OU"') where seq_id = {{opened}};
            update cpsledger_tests.mt_events set user_name = 'someone-else' where seq_id = {{amended}};
            update cpsledger_tests.mt_events set data = jsonb_set(data, '{Points}', '9999') where seq_id = {{invited}};
            """);

        // Each link hashes over the stored link before it: every edited event is found at its own link, in chain order.
        var report = await Verify(account);
        Assert.Equal([(opened, "edited"), (amended, "edited"), (invited, "edited")],
            report.ChainBreaks.Select(b => (b.Sequence!.Value, b.Problem)));
        Assert.All(report.ChainBreaks, b => Assert.Equal(account, b.ChainId));

        var chain = await Auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.Equal(report.ChainBreaks, chain.Breaks);
        Assert.Equal(report.ChainBreaks[0], Assert.Single(chain.Chains, c => c.ChainId == account).Break);

        var history = await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>();
        Assert.Equal(report.ChainBreaks, history.ChainBreaks);
        Assert.Equal([opened, amended, invited], history.Items.Where(i => i.ChainProblem is not null).Select(i => i.Sequence));
    }

    [Fact]
    public async Task A_break_says_which_event_it_is_and_since_when_the_chain_no_longer_vouches_for_the_account()
    {
        var (account, registration) = await AccountWithHistory();
        var amended = await SequenceOf(registration, "product_details_amended");
        var allocated = await SequenceOf(registration, "points_allocated");
        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where seq_id = {amended}");
        await Sql($"delete from cpsledger_tests.mt_events where seq_id = {allocated}");
        var entry = Assert.Single((await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>()).Items,
            i => i.Sequence == amended);

        // What the event was and when it was recorded, as the history's entry says, without looking it up; a removed event is gone,
        // so neither is known.
        var report = await Verify(account);
        var edited = Assert.Single(report.ChainBreaks, b => b.Problem == "edited");
        Assert.Equal(("product_details_amended", entry.At), (edited.Type, edited.RecordedAt));
        var removed = Assert.Single(report.ChainBreaks, b => b.Problem == "removed");
        Assert.Equal((null, null), (removed.Type, removed.RecordedAt));
        var chain = await Auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.Equal(report.ChainBreaks, chain.Breaks);

        // Since when: the account as of the moment before it was recorded replays only what was chained.
        var before = await Auditor.GetAsync($"/api/accounts/{account}/as-of?timestamp=" +
                                            Uri.EscapeDataString(edited.RecordedAt!.Value.AddTicks(-10).ToString("O"))).ReadAs<AccountAsOf>();
        Assert.True(before.ChainIntact);
        Assert.True(before.LastSequenceIncluded < amended);
    }

    [Fact]
    public async Task An_edited_event_is_marked_in_the_history_and_time_travel_says_it_folded_it()
    {
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "product_details_amended");
        var clean = await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>();
        Assert.True(clean.ChainIntact);
        Assert.Empty(clean.ChainBreaks);
        Assert.All(clean.Items, i => Assert.Null(i.ChainProblem));
        Assert.True((await AsOfNow(account)).ChainIntact);

        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Photopoinu\"') where seq_id = {sequence}");

        // The entry shows the edited data, and says it is not what was chained; the page says where the account's chain breaks, as
        // the account's hash-chain does.
        var history = await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>();
        var edited = Assert.Single(history.Items, i => i.ChainProblem is not null);
        Assert.Equal((sequence, "edited"), (edited.Sequence, edited.ChainProblem));
        Assert.Contains("Photopoinu", edited.Description, StringComparison.Ordinal);
        Assert.False(history.ChainIntact);
        var chain = await Auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        Assert.Equal(Assert.Single(chain.Breaks), Assert.Single(history.ChainBreaks));
        Assert.Equal((account, edited.EventId), (history.ChainBreaks[0].ChainId, history.ChainBreaks[0].EventId));

        // A page without the event still says the account's chain is broken, and where.
        var first = await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=1").ReadAs<HistoryPage>();
        Assert.Null(Assert.Single(first.Items).ChainProblem);
        Assert.False(first.ChainIntact);
        Assert.Equal(history.ChainBreaks, first.ChainBreaks);

        // Time travel past the edit folded the edited event, and says so; before it, it folded nothing edited.
        var asOf = await AsOfNow(account);
        Assert.False(asOf.ChainIntact);
        Assert.Equal(history.ChainBreaks, asOf.ChainBreaks);
        var before = await Auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={sequence - 1}").ReadAs<AccountAsOf>();
        Assert.True(before.LastSequenceIncluded < sequence);
        Assert.True(before.ChainIntact);
        Assert.Empty(before.ChainBreaks);
    }

    [Fact]
    public async Task The_history_of_an_account_that_migrated_products_in_names_a_break_in_the_old_cps_accounts_chain()
    {
        await App.ListModel(points: 235);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        Assert.Equal(2, (await App.Member(account).Migrate(account)).Migrated);
        Assert.True((await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>()).ChainIntact);

        // The old account's import of a migrated camera, edited: a link of the old account's own chain (its events name no account),
        // which feeds this account (the history describes the migrated product from it).
        var legacy = Api.Migration.LegacyIds.AccountFor(LegacyFiles.Kadri);
        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where stream_id = '{legacy}' " +
                  "and type = 'legacy_product_imported' and data ->> 'SerialNumber' = '0123 4567'");

        var chain = await Auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
        var broken = Assert.Single(chain.Breaks);
        Assert.Equal((legacy, "edited"), (broken.ChainId, broken.Problem));
        var history = await Auditor.GetAsync($"/api/accounts/{account}/history").ReadAs<HistoryPage>();
        Assert.False(history.ChainIntact);
        Assert.Equal(broken, Assert.Single(history.ChainBreaks));
        // The edited import is not an event of the account's history: no entry is marked, the page names the break.
        Assert.All(history.Items, i => Assert.Null(i.ChainProblem));
        var filtered = await Auditor.GetAsync($"/api/accounts/{account}/history?types=cps_joined").ReadAs<HistoryPage>();
        Assert.Equal((0L, false), (filtered.Total, filtered.ChainIntact));
    }

    private Task<AccountAsOf> AsOfNow(Guid account) =>
        Auditor.GetAsync($"/api/accounts/{account}/as-of?timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}")
            .ReadAs<AccountAsOf>();

    [Fact]
    public async Task An_event_marked_archived_is_found_even_after_a_rebuild()
    {
        // Marten leaves an archived event out of every read, replay and rebuild: marking one is removing it from the account's
        // story without deleting the row the chain still finds.
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "points_allocated");
        await Sql($"update cpsledger_tests.mt_events set is_archived = true where seq_id = {sequence}");
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync<CpsLedger.Api.Products.ProductViewProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);

        var report = await Verify(account);
        var found = Assert.Single(report.ChainBreaks);
        Assert.Equal(("archived", sequence, 4L), (found.Problem, found.Sequence, found.Position));
        Assert.Contains((await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>()).ChainBreaks,
            b => (b.Problem, b.Sequence) == ("archived", sequence));
    }

    [Fact]
    public async Task Two_events_of_a_stream_with_their_versions_swapped_are_found()
    {
        // A stream is replayed in its versions' order: swapping two versions changes what the product went through.
        var (account, registration) = await AccountWithHistory();
        await Sql($"""
            update cpsledger_tests.mt_events set version = -version where stream_id = '{registration}' and version in (2, 3);
            update cpsledger_tests.mt_events set version = case version when -2 then 3 else 2 end where stream_id = '{registration}' and version in (-2, -3);
            """);

        // Opened, registered, amended (v2, link 3), allocated (v3, link 4): the first link out of step is the amendment's.
        var found = Assert.Single((await Verify(account)).ChainBreaks);
        Assert.Equal(("reordered", await SequenceOf(registration, "product_details_amended"), 3L), (found.Problem, found.Sequence, found.Position));
        var whole = await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>();
        Assert.Equal(found, Assert.Single(whole.ChainBreaks));
    }

    [Fact]
    public async Task An_event_edited_into_a_shape_no_replay_can_read_is_named_and_the_replay_reported_not_done()
    {
        // Found by AuditPropertyTests (CI seed 0000001diBHb): headers stored as JSON null, "edited" with || into an array. The
        // replay threw reading the event and verification answered 400 "Malformed request body" to a GET without a body. Events
        // carry an object of headers now (their commit id), which || would merge into: the array is written as it was made.
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "product_registered");
        await Sql($$"""update cpsledger_tests.mt_events set headers = jsonb_build_array(headers, '{"supportReason": "Tampered"}'::jsonb) where seq_id = {{sequence}}""");

        var report = await Verify(account);
        var found = Assert.Single(report.ChainBreaks);
        Assert.Equal(("edited", sequence, 2L), (found.Problem, found.Sequence, found.Position));
        var notReplayed = Assert.Single(report.Differences);
        Assert.Equal(("(events)", account.ToString(), "(replay)"), (notReplayed.Document, notReplayed.Id, notReplayed.Field));
        Assert.StartsWith("unreadable: ", notReplayed.Stored);

        var whole = await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>();
        Assert.Equal(found, Assert.Single(whole.ChainBreaks));
        Assert.Contains(whole.Differences, d => (d.Document, d.Id) == ("(events)", "(ledger)"));
    }

    [Fact]
    public async Task Reading_an_account_whose_stored_event_cannot_be_read_is_never_blamed_on_a_request_body()
    {
        // The history, time travel and the explanation of an account with an event edited into unreadable JSON answered
        // 400 "Malformed request body" to GETs that have none. A stored event nobody can read is the ledger's fault: 500.
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "product_registered");
        // Into an array, as || made of headers stored as JSON null (an object of headers now would merge: CommitIds).
        await Sql($$"""update cpsledger_tests.mt_events set headers = jsonb_build_array(headers, '{"x": 1}'::jsonb) where seq_id = {{sequence}}""");

        var auditor = App.UncheckedClientAs(LedgerRoles.Auditor);
        foreach (var url in new[] { $"/api/accounts/{account}/history", $"/api/accounts/{account}/as-of?sequence={sequence}" })
        {
            var response = await auditor.GetAsync(url);
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            Assert.DoesNotContain("Malformed request body", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_deleted_event_is_found()
    {
        var (account, registration) = await AccountWithHistory();
        var sequence = await SequenceOf(registration, "points_allocated");
        await Sql($"delete from cpsledger_tests.mt_events where seq_id = {sequence}");

        var found = Assert.Single((await Verify(account)).ChainBreaks);
        Assert.Equal(("removed", 4L), (found.Problem, found.Position));
    }

    [Fact]
    public async Task An_event_inserted_around_the_chain_is_found_by_the_whole_ledger_verification_too()
    {
        var (account, registration) = await AccountWithHistory();
        Assert.True((await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>()).Agrees);
        // An event added with the chain's trigger switched off (what anyone with the table owner's rights could do).
        await Sql($"""
            alter table cpsledger_tests.mt_events disable trigger user;
            insert into cpsledger_tests.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type)
            select nextval('cpsledger_tests.mt_events_sequence'), gen_random_uuid(), stream_id, version + 100, data, type, timestamp,
                   tenant_id, mt_dotnet_type
            from cpsledger_tests.mt_events where stream_id = '{registration}' order by version desc limit 1;
            alter table cpsledger_tests.mt_events enable trigger user;
            """);

        var whole = await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>();

        Assert.False(whole.Agrees);
        Assert.Contains(whole.ChainBreaks, b => b.Problem == "unchained" && b.ChainId == account);
    }

    [Fact]
    public async Task Reordered_events_are_found()
    {
        var (account, registration) = await AccountWithHistory();
        var amended = await SequenceOf(registration, "product_details_amended");
        var allocated = await SequenceOf(registration, "points_allocated");
        await Sql($"""
            update cpsledger_tests.mt_events set seq_id = -1 where seq_id = {amended};
            update cpsledger_tests.mt_events set seq_id = {amended} where seq_id = {allocated};
            update cpsledger_tests.mt_events set seq_id = {allocated} where seq_id = -1;
            """);

        // Both events swapped are out of place, each at its own link.
        Assert.Equal([("reordered", 3L), ("reordered", 4L)], (await Verify(account)).ChainBreaks.Select(b => (b.Problem, b.Position)));
    }

    [Fact]
    public async Task Exported_heads_reveal_a_rewritten_history_even_when_the_chain_was_recomputed()
    {
        var (account, registration) = await AccountWithHistory();
        var csv = await (await Auditor.GetAsync("/api/audit/chain-heads")).Content.ReadAsStringAsync();
        var heads = ChainVerification.ReadHeads(csv);
        Assert.Contains(heads, h => h.ChainId == account && h.Position == 7);

        var chains = App.Services.GetRequiredService<ChainVerification>();
        Assert.Empty(await chains.CheckHeadsAsync(heads, CancellationToken.None));

        // A forger edits an event and recomputes every link after it, so the chain itself verifies again...
        var sequence = await SequenceOf(registration, "product_details_amended");
        await Sql($$"""
            update cpsledger_tests.mt_events set data = jsonb_set(data, '{Dealer}', '"Elsewhere"') where seq_id = {{sequence}};
            with recursive relinked as (
                select c.chain_id, c.position, c.event_id,
                       sha256(coalesce((select p.hash from cpsledger_tests.account_chain p where p.chain_id = c.chain_id and p.position = c.position - 1), ''::bytea)
                              || convert_to({{HashChainSchema.CanonicalEventSql("e")}}, 'UTF8')) as hash
                from cpsledger_tests.account_chain c join cpsledger_tests.mt_events e on e.id = c.event_id
                where c.chain_id = '{{account}}' and c.position = 3
                union all
                select c.chain_id, c.position, c.event_id, sha256(r.hash || convert_to({{HashChainSchema.CanonicalEventSql("e")}}, 'UTF8'))
                from relinked r
                join cpsledger_tests.account_chain c on c.chain_id = r.chain_id and c.position = r.position + 1
                join cpsledger_tests.mt_events e on e.id = c.event_id
            )
            update cpsledger_tests.account_chain c set hash = r.hash from relinked r where c.chain_id = r.chain_id and c.position = r.position;
            """);
        Assert.Empty((await Verify(account)).ChainBreaks);

        // ...but the head kept outside no longer matches.
        var rewritten = Assert.Single(await chains.CheckHeadsAsync(heads, CancellationToken.None), b => b.ChainId == account);
        Assert.Equal("rewritten", rewritten.Problem);
        await (await App.Member(account).GetAsync("/api/audit/chain-heads")).ShouldBe(HttpStatusCode.Forbidden);
    }
    [Fact]
    public async Task An_exported_head_the_database_does_not_hold_is_missing_or_truncated_not_rewritten()
    {
        var (account, _) = await AccountWithHistory();
        var heads = ChainVerification.ReadHeads(await (await Auditor.GetAsync("/api/audit/chain-heads")).Content.ReadAsStringAsync());
        var own = Assert.Single(heads, h => h.ChainId == account);
        // As a database restored from a backup older than the heads file reads it: a chain begun since the backup is not in it at
        // all, one that grew since ends before its exported head. Neither is a link that hashes otherwise.
        var begunSince = new ChainHead(Guid.NewGuid(), 3, own.Sequence + 20, own.Hash);
        var grewSince = own with { Position = own.Position + 2, Sequence = own.Sequence + 10 };
        var chains = App.Services.GetRequiredService<ChainVerification>();
        var found = await chains.CheckHeadsAsync([.. heads, begunSince, grewSince], CancellationToken.None);
        Assert.Equal([(begunSince.ChainId, 3L, "missing"), (account, own.Position + 2, "truncated")],
            found.Select(b => (b.ChainId, b.Position, b.Problem)));

        // The verify command says the same words.
        var file = Path.Combine(Path.GetTempPath(), $"heads-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, ChainVerification.WriteHeads([.. heads, begunSince, grewSince]));
        try
        {
            var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "verify", "--account", account.ToString(), "--heads", file);
            Assert.True(exit == 1, output);
            Assert.Contains($"Heads in {file}: 2 no longer in their chains (0 rewritten, 1 truncated, 1 missing).", output);
            Assert.Contains($"  chain {begunSince.ChainId} link 3: missing (the database holds no link of this chain)", output);
            Assert.Contains($"  chain {account} link {own.Position + 2}: truncated (the chain ends before this link)", output);
            Assert.DoesNotContain("rewritten (", output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Exported_heads_are_checked_in_one_statement_however_many_there_are()
    {
        var (account, _) = await AccountWithHistory();
        var heads = ChainVerification.ReadHeads(await (await Auditor.GetAsync("/api/audit/chain-heads")).Content.ReadAsStringAsync());
        var own = Assert.Single(heads, h => h.ChainId == account);
        var rewritten = own with { Hash = new string('0', 64) };
        var truncated = own with { Position = own.Position + 1 };
        // A heads file as long as a ledger's: every chain's head and 300 begun after the database's backup.
        var missing = Enumerable.Range(1, 300).Select(i => new ChainHead(Guid.NewGuid(), i, i, own.Hash)).ToList();
        var chains = App.Services.GetRequiredService<ChainVerification>();

        using var statements = new SentStatements();
        IReadOnlyList<ChainBreak> found;
        using (statements.Enter())
            found = await chains.CheckHeadsAsync([.. heads, missing[0], rewritten, .. missing[1..], truncated, own with { Hash = own.Hash.ToUpperInvariant() }], CancellationToken.None);

        // One query sent for them all (it was one per head), and the same words in the file's order.
        Assert.Single(statements.Texts);
        Assert.Equal(
            [(missing[0].ChainId, missing[0].Position, "missing"), (account, own.Position, "rewritten"),
             .. missing[1..].Select(m => (m.ChainId, m.Position, "missing")), (account, own.Position + 1, "truncated")],
            found.Select(b => (b.ChainId, b.Position, b.Problem)));
        Assert.All(found, b => Assert.Null(b.EventId));
        Assert.Equal(rewritten.Sequence, found[1].Sequence);
    }

    [Fact]
    public async Task A_failed_appends_tombstone_is_chained_on_its_own_and_verification_and_exported_heads_stay_clean()
    {
        var (account, _) = await AccountWithHistory();
        await FailedAppend(account);
        var tombstone = Assert.Single(await Tombstones());
        // A tombstone names no account: it is linked on the tombstone stream's chain, never on the account's.
        Assert.Equal(tombstone.Stream, tombstone.Chain);
        Assert.True((await Verify(account)).Agrees);

        var heads = ChainVerification.ReadHeads(await (await Auditor.GetAsync("/api/audit/chain-heads")).Content.ReadAsStringAsync());
        Assert.Contains(heads, h => h.ChainId == tombstone.Chain && h.Sequence == tombstone.Sequence);
        var whole = await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>();
        Assert.Empty(whole.ChainBreaks);

        // A later failed append adds a tombstone to the same chain: the head exported before is still a link of it.
        await FailedAppend(account);
        Assert.Equal(2, (await Tombstones()).Select(t => t.Chain).Where(c => c == tombstone.Chain).Count());
        Assert.Empty(await App.Services.GetRequiredService<ChainVerification>().CheckHeadsAsync(heads, CancellationToken.None));
        Assert.Empty((await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>()).ChainBreaks);
    }

    /// <summary>
    /// One session appends to the account (the event's number is drawn and returned) and then to a stream at a version it is not at:
    /// the transaction fails after the first insert, and Marten writes a tombstone with that number, in a session of its own.
    /// </summary>
    private async Task FailedAppend(Guid account)
    {
        var before = (await Tombstones()).Count;
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.Append(account, new Api.Accounts.OldCpsEmailLinked(account, "tombstone@old.example", "Never committed", DateTimeOffset.UtcNow));
            session.Events.Append(Guid.NewGuid(), 5, new Api.Accounts.OldCpsEmailLinked(account, "tombstone@old.example", "Never committed", DateTimeOffset.UtcNow));
            await Assert.ThrowsAnyAsync<Exception>(() => session.SaveChangesAsync());
        }

        await FaultWaits.Until(async () => (await Tombstones()).Count > before, "the failed append's tombstone written");
    }

    private async Task<List<(long Sequence, Guid Stream, Guid? Chain)>> Tombstones()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select e.seq_id, e.stream_id, c.chain_id from cpsledger_tests.mt_events e " +
            "left join cpsledger_tests.account_chain c on c.event_id = e.id where e.type = 'tombstone' order by e.seq_id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var found = new List<(long, Guid, Guid?)>();
        while (await reader.ReadAsync())
            found.Add((reader.GetInt64(0), reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetGuid(2)));
        return found;
    }

    [Fact]
    public async Task Links_written_per_row_and_per_statement_are_those_of_the_v3_function_byte_for_byte()
    {
        // Per row: the service's appends. Per statement: the legacy import's bulk copies, one of more than 64 chains (one table
        // lock) and one of fewer (a lock per chain); its later batches append to those streams per row again.
        await AccountWithHistory();
        var rows = Enumerable.Range(1, 160).Select(i => $"c{i % 80}@old.example,N-{i % 80},EOS-R5,SN-{i},2019-01-01,EE,Photopoint").ToArray();
        await App.ImportThroughCommandLinePath(LegacyFiles.Csv(rows), batchSize: 100);
        await App.ImportThroughCommandLinePath(LegacyFiles.Csv([.. Enumerable.Range(1, 10).Select(i => $"z{i}@old.example,Z-{i},LENS,,,,")]));

        // v3's function (migration 005), run over the same events in commit order into a table of its own.
        var schema = App.SchemaName;
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($$"""
            create temp table chain_v3 (like {{schema}}.account_chain including all);
            create function pg_temp.chain_v3_add(ev {{schema}}.mt_events) returns void language plpgsql as $chain$
            declare
                key      uuid := {{HashChainSchema.ChainKeySqlV3("ev")}};
                previous bytea;
                last     bigint;
            begin
                select c.hash, c.position into previous, last from chain_v3 c where c.chain_id = key order by c.position desc limit 1;
                insert into chain_v3 (chain_id, position, seq_id, event_id, hash)
                values (key, coalesce(last, 0) + 1, ev.seq_id, ev.id,
                        sha256(coalesce(previous, ''::bytea) || convert_to({{HashChainSchema.CanonicalEventSql("ev")}}, 'UTF8')));
            end;
            $chain$;
            do $replay$
            declare ev {{schema}}.mt_events;
            begin
                for ev in select * from {{schema}}.mt_events order by seq_id loop
                    perform pg_temp.chain_v3_add(ev);
                end loop;
            end;
            $replay$;
            select (select count(*) from {{schema}}.mt_events),
                   (select count(*) from {{schema}}.account_chain),
                   (select count(*) from {{schema}}.account_chain a
                    full join chain_v3 b using (chain_id, position, seq_id, event_id, hash)
                    where a.chain_id is null or b.chain_id is null);
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var (events, links, differing) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        Assert.True(events >= 7 + 80 + 160 + 20, $"{events} events");
        Assert.Equal((events, 0L), (links, differing));
    }

    [Fact]
    public async Task The_hash_chain_status_reads_the_old_accounts_and_invoices_it_names_in_one_round_trip()
    {
        await App.ListModel(points: 235);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        using var statements = new SentStatements();
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        auditor.DefaultRequestHeaders.Add("traceparent", statements.TraceParent);

        var status = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();

        var old = Assert.Single(status.Chains, c => c.Kind == AccountStreamKind.OldCpsAccount);
        Assert.StartsWith(LegacyFiles.Kadri, old.Label);
        // The labels' reads (the old accounts' views, the invoices') are one batch, not a round trip each.
        bool Reads(string sql, string table) => System.Text.RegularExpressions.Regex.IsMatch(sql, $@"\b{table}\b");
        var labels = Assert.Single(statements.Texts, sql => Reads(sql, "mt_doc_legacyaccountview"));
        Assert.True(Reads(labels, "mt_doc_invoice"), labels);
    }
}
