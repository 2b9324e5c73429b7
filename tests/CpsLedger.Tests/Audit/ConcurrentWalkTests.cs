using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using CsCheck;
using Marten;
using Xunit.Abstractions;

namespace CpsLedger.Tests.Audit;

/// <summary>
/// The races the lock tests were written for one by one, looked for at random: several clients at once on a few shared accounts
/// register and complete products, deregister them, have support add and deduct points (so the accounts cross the invitation
/// threshold both ways), join, have support resend the invitation, publish tier tables that move the threshold, link an old CPS
/// e-mail, migrate from it and unlink it. Each answer must be one the API gives for a lost race (a 2xx, a 409, an unlink's 404),
/// never a 500, a 503 or a deadlock in the log. After each round, once everything it set off has been handled, the ledger must be
/// consistent: the reconciliation finds nothing to repair, each account's explanation adds up to its total, and an account that is
/// not a member is invited exactly when its points reach the threshold; at the end the hash chains verify and a rebuild of the
/// projections writes what the inline ones wrote. CsCheck's PCG draws each client's operations (a fixed seed on CI, a random one
/// locally, printed; CPSLEDGER_CONCURRENT_SEED replays the draws, not the interleaving). One node: its invitation reviews run one
/// batch at a time, so races between two nodes' batches (the review lock's reason) are out of this walk's reach.
/// </summary>
public sealed class ConcurrentWalkTests(LedgerApp app, ITestOutputHelper output) : LedgerTest(app)
{
    private const int AccountCount = 4;
    private const int Clients = 8;
    private const int Rounds = 3;
    private const int OperationsPerClientAndRound = 8;
    private const string Camera = Products.Products.R5;
    private const string Lens = Products.Products.Lens;
    private const string Cinema = Billing.Thousand;
    private const string Reason = "Member called: acting on the phone";
    private const string Ticket = "CPS-SUP-38";

    // Three old CPS accounts: 470, 1000 and 15 points of complete products (and one waiting for its dealer).
    private static readonly (string Email, string Number, string[] Rows)[] OldAccounts =
    [
        ("old-a@old.example", "CPS-OLD-1001", [$"{Camera},L-A1,2019-03-01,EE,Photopoint", $"{Camera},L-A2,2019-04-01,EE,Photopoint"]),
        ("old-b@old.example", "CPS-OLD-1002", [$"{Cinema},L-B1,2020-03-01,EE,Photopoint"]),
        ("old-c@old.example", "CPS-OLD-1003", [$"{Lens},L-C1,2018-06-15,EE,Photopoint", $"{Camera},L-C2,2020-01-10,EE,"]),
    ];

    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");

    private sealed class Registration(Guid account, string url, bool complete)
    {
        public Guid Account { get; } = account;
        public string Url { get; } = url;
        public bool Complete { get; set; } = complete;
        public bool Deregistered { get; set; }
    }

    private sealed class Walk
    {
        private int _serial;
        private readonly List<Registration> _registrations = [];
        public Guid[] Accounts { get; set; } = [];
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public ConcurrentQueue<string> Log { get; } = new();
        public ConcurrentQueue<string> Failures { get; } = new();
        public ConcurrentDictionary<string, int> Answers { get; } = new();
        public string NextSerial() => $"CW-{Interlocked.Increment(ref _serial)}";

        public void Add(Registration registration)
        {
            lock (_registrations)
                _registrations.Add(registration);
        }

        public List<Registration> Registrations(Guid account)
        {
            lock (_registrations)
                return [.. _registrations.Where(r => r.Account == account)];
        }
    }

    private sealed class Client(PCG pcg, int number)
    {
        public int Number { get; } = number;
        public int Draw(int below) => Gen.Int[0, below - 1].Generate(pcg, null, out _);
        public bool Chance(int percent) => Draw(100) < percent;
        public T Pick<T>(IReadOnlyList<T> items) => items[Draw(items.Count)];
    }

    [Fact]
    public async Task Concurrent_clients_on_shared_accounts_leave_a_ledger_that_reconciles_clean()
    {
        var pcg = Seed();
        var seed = pcg.ToString();
        output.WriteLine($"Concurrent walk seed: {seed} (replay the draws with CPSLEDGER_CONCURRENT_SEED={seed})");
        var walk = new Walk();
        try
        {
            await RunWalk(walk, pcg);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException(
                $"Concurrent walk with seed {seed} failed (replay the draws with CPSLEDGER_CONCURRENT_SEED={seed}): {e.Message}\n" +
                $"Operations:\n{string.Join("\n", walk.Log)}\n{e}");
        }
        finally
        {
            output.WriteLine(string.Join("\n", walk.Log));
            output.WriteLine("Answers: " + string.Join(", ", walk.Answers.OrderBy(a => a.Key).Select(a => $"{a.Key} x{a.Value}")));
        }
    }

    private static PCG Seed()
    {
        if (Environment.GetEnvironmentVariable("CPSLEDGER_CONCURRENT_SEED") is { Length: > 0 } replay)
            return PCG.Parse(replay);
        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? new PCG(38, 20_261_204)
            : new PCG((uint)Random.Shared.Next(), (ulong)Random.Shared.NextInt64());
    }

    private async Task RunWalk(Walk walk, PCG pcg)
    {
        await App.ListModel(Camera, "EOS R5", "camera_body", 235);
        await App.ListModel(Lens, "EF 40mm f/2.8 STM", "lens", 15);
        await Billing.ListThousandPointModel(App.Store);
        await App.ImportLegacy(LegacyFiles.Csv([.. OldAccounts.SelectMany(o => o.Rows.Select(r => $"{o.Email},{o.Number},{r}"))]));
        walk.Accounts = [.. await Task.WhenAll(Enumerable.Range(0, AccountCount).Select(i => App.OpenAccount($"walk-{i}@studio.example")))];
        var clients = Enumerable.Range(0, Clients)
            .Select(i => new Client(new PCG((uint)Gen.Int[0, int.MaxValue].Generate(pcg, null, out _), (ulong)Gen.Long.Generate(pcg, null, out _)), i))
            .ToList();
        var mark = App.Logs.Mark();
        var deadLetters = App.Logs.DeadLetteredTypes().Count;

        for (var round = 1; round <= Rounds; round++)
        {
            var started = walk.Clock.Elapsed;
            // One tracked session around the round: it ends once everything the clients set off (reviews in their batches, e-mails,
            // the migration's steps) has been handled.
            await App.Tracked(() => Task.WhenAll(clients.Select(c => RunClient(walk, c, round))));
            await App.UntilBatchesHandled();
            await App.Services.UntilInboxHasNothingToRun();
            walk.Log.Enqueue($"round {round} done in {(walk.Clock.Elapsed - started).TotalSeconds:0.0} s");

            Assert.True(walk.Failures.IsEmpty, $"round {round}: answers no lost race explains:\n{string.Join("\n\n", walk.Failures)}");
            var deadlocks = App.Logs.DeadlocksSince(mark);
            Assert.True(deadlocks.Count == 0, $"round {round}: deadlocks logged:\n" +
                                              string.Join("\n", deadlocks.Select(d => $"{d.RenderMessage()}\n{d.Exception}")));
            Assert.True(App.Logs.DeadLetteredTypes().Count == deadLetters, $"round {round}: dead letters:\n{App.Logs.DeadLetters()}");
            await LedgerIsConsistent(walk, $"after round {round}");
            // Past the reconciliation's grace, so that it judges everything this round did (the invoices are due two hours after a
            // join, three rounds do not reach them).
            App.Clock.Advance(TimeSpan.FromMinutes(16));
            var report = await App.Tracked(() => App.ClientAs(LedgerRoles.Support).PostJson("/api/operations/reconciliation/runs", new { })
                .ReadAs<ReconciliationReport>());
            if (report.OpenFindings.Count > 0)
            {
                var events = new List<string>();
                foreach (var found in report.OpenFindings.Select(f => f.AccountId).Distinct())
                    events.Add($"events of {found}:\n{await EventsOf(found)}");
                Assert.Fail($"round {round}: the reconciliation found broken promises:\n" +
                            string.Join("\n", report.OpenFindings.Select(f => $"{f.Check} {f.AccountId} {f.Subject}: {f.Detail} -> {f.Repair}")) +
                            "\n" + string.Join("\n", events));
            }
        }

        var verification = await Auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>();
        Assert.True(verification.Agrees, $"verification: {string.Join("; ", verification.Differences)} {string.Join("; ", verification.ChainBreaks)}");
        foreach (var account in walk.Accounts)
        {
            var chain = await Auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<AccountChainStatus>();
            Assert.True(chain.Intact, $"hash chains of {account}: {string.Join("; ", chain.Breaks)}");
        }
        await RebuildsWriteWhatTheInlineProjectionsWrote();
    }

    private async Task LedgerIsConsistent(Walk walk, string when)
    {
        var table = await Auditor.GetAsync("/api/tiers").ReadAs<TierTableView>();
        for (var i = 0; i < walk.Accounts.Length; i++)
        {
            var account = walk.Accounts[i];
            var summary = await Auditor.Summary(account);
            var explanation = await Auditor.Explanation(account);
            var membership = await Auditor.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
            var context = $"{when}, account {i} ({account})";
            walk.Log.Enqueue($"{context}: {summary.PointsTotal} points (threshold {table.InvitationThreshold}), " +
                             $"invitation {(membership.Invitation is null ? "none" : "standing")}, " +
                             $"membership {(membership.Membership is null ? "none" : membership.Membership.MembershipNumber)}");
            Assert.True(explanation.Lines.Sum(l => l.Points) == explanation.PointsTotal,
                $"{context}: lines add up to {explanation.Lines.Sum(l => l.Points)}, total {explanation.PointsTotal}");
            Assert.True(summary.PointsTotal == explanation.PointsTotal, $"{context}: summary {summary.PointsTotal}, explanation {explanation.PointsTotal}");
            if (membership.Membership is null or { EndedOn: not null } && membership.Invitation is not null != summary.PointsTotal >= table.InvitationThreshold)
                Assert.Fail($"{context}: invitation {(membership.Invitation is null ? "none" : "standing")} at {summary.PointsTotal} points, threshold " +
                            $"{table.InvitationThreshold} (tier table v{table.TableVersion}). The account's events:\n{await EventsOf(account)}");
        }
    }

    private async Task RunClient(Walk walk, Client client, int round)
    {
        for (var n = 1; n <= OperationsPerClientAndRound; n++)
        {
            var index = client.Draw(AccountCount);
            var account = walk.Accounts[index];
            var correlation = $"concurrent-walk-{Guid.NewGuid():N}";
            var started = walk.Clock.Elapsed;
            string what = "?";
            try
            {
                (what, var status, var accepted) = await TakeStep(walk, client, account, correlation);
                walk.Answers.AddOrUpdate($"{what.Split(' ')[0]} {status}", 1, (_, c) => c + 1);
                walk.Log.Enqueue($"{started.TotalMilliseconds,7:0} ms r{round} c{client.Number} #{n} a{index}: {what}: {status} " +
                                 $"({(walk.Clock.Elapsed - started).TotalMilliseconds:0} ms) {correlation}");
                if (!accepted)
                    walk.Failures.Enqueue($"r{round} c{client.Number} #{n} a{index} ({account}): {what} answered {status}; " +
                                          $"service log for {correlation}:\n{App.Logs.Explain(correlation)}");
            }
            catch (Exception e)
            {
                walk.Log.Enqueue($"{started.TotalMilliseconds,7:0} ms r{round} c{client.Number} #{n} a{index}: {what}: threw {e.GetType().Name} {correlation}");
                walk.Failures.Enqueue($"r{round} c{client.Number} #{n} a{index} ({account}): {what} threw {e.Message}\n" +
                                      $"service log for {correlation}:\n{App.Logs.Explain(correlation)}\n{e}");
            }
        }
    }

    /// <returns>What was done, the status it answered, and whether that is an answer the API gives when a race is lost.</returns>
    private async Task<(string What, int Status, bool Accepted)> TakeStep(Walk walk, Client client, Guid account, string correlation)
    {
        HttpClient As(string role) => With(App.ClientAs(role, role == LedgerRoles.Member ? account : null, $"walk-{role}-{client.Number}"), correlation);
        var member = As(LedgerRoles.Member);
        var support = As(LedgerRoles.Support);
        var registrations = walk.Registrations(account);
        var pending = registrations.Where(r => !r.Complete && !r.Deregistered).ToList();
        // Mostly registrations still registered; now and then one deregistered already (409).
        var registered = registrations.Where(r => !r.Deregistered || client.Chance(10)).ToList();
        int[] kinds = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 6, 6, 7, 8, 8, 9, 9, 10, .. client.Chance(40) ? new[] { 5 } : []];
        var kind = client.Pick(kinds);
        if (kind == 2 && pending.Count == 0 || kind == 3 && registered.Count == 0)
            kind = 0;
        switch (kind)
        {
            case 0 or 1:
                {
                    // A registration: complete (points at once), or without its dealer (points once completed).
                    var model = client.Pick([Camera, Camera, Camera, Camera, Lens, Lens, Camera, Cinema]);
                    var serial = walk.NextSerial();
                    var complete = kind == 0;
                    var body = complete ? Products.Products.Complete(serial, model) : Products.Products.WithoutDealer(serial, model);
                    var response = await member.PostJson(Products.Products.ProductsUrl(account), body);
                    var text = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode == HttpStatusCode.Created)
                        walk.Add(new Registration(account, System.Text.Json.JsonSerializer.Deserialize<ProductRegistrationCreated>(text, HttpAssertions.ApiJson)!.Url,
                            complete));
                    return ($"register {model} {serial}{(complete ? "" : " without dealer")}", (int)response.StatusCode,
                        response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
                }
            case 2:
                {
                    var registration = client.Pick(pending);
                    var response = await member.PatchJson(registration.Url, new { dealer = "Photopoint" });
                    await response.Content.ReadAsStringAsync();
                    if (response.StatusCode == HttpStatusCode.OK)
                        registration.Complete = true;
                    return ($"complete {registration.Url[^8..]}", (int)response.StatusCode, response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict);
                }
            case 3:
                {
                    var registration = client.Pick(registered);
                    var response = await member.PostJson($"{registration.Url}/deregistration", new { reason = client.Pick(["sold", "lost", "registered_in_error"]) });
                    await response.Content.ReadAsStringAsync();
                    if (response.StatusCode == HttpStatusCode.OK)
                        registration.Deregistered = true;
                    return ($"deregister {registration.Url[^8..]}", (int)response.StatusCode, response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict);
                }
            case 4:
                {
                    // Toward the threshold, so that the accounts cross it both ways: a deduction from an account well above it, points
                    // for one well below it (on a total read a moment before: others change it meanwhile).
                    var total = (await Auditor.Summary(account)).PointsTotal;
                    var points = client.Pick(total switch
                    {
                        > 1000 => [-1200, -800, -500],
                        < 300 => [250, 400, 500],
                        _ => new[] { -300, -150, 150, 300 },
                    });
                    var response = await support.PostJson($"/api/accounts/{account}/points-adjustments",
                        new { points, reason = "Registration lost in the portal outage", ticketReference = Ticket });
                    await response.Content.ReadAsStringAsync();
                    return ($"adjust {points:+#;-#}", (int)response.StatusCode, response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
                }
            case 5:
                {
                    var bySupport = client.Chance(30);
                    object body = new { tier = "silver", paymentMethod = "bank_transfer" };
                    var response = await (bySupport ? support : member).PostJson($"/api/accounts/{account}/membership",
                        bySupport ? Support.OnBehalf.BySupport(body, Reason, Ticket) : body);
                    await response.Content.ReadAsStringAsync();
                    return ($"join silver{(bySupport ? " by support" : "")}", (int)response.StatusCode,
                        response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
                }
            case 6:
                {
                    var response = await support.PostJson($"/api/accounts/{account}/invitation/resend", new { reason = "Member says the first e-mail never arrived", ticketReference = "CPS-SUP-1" });
                    await response.Content.ReadAsStringAsync();
                    return ("resend invitation", (int)response.StatusCode, response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.Conflict);
                }
            case 7:
                {
                    var threshold = client.Pick([500, 700]);
                    var response = await With(App.ClientAs(LedgerRoles.Finance, subject: $"walk-finance-{client.Number}"), correlation)
                        .PutJson("/api/tiers", TierTable(threshold));
                    await response.Content.ReadAsStringAsync();
                    return ($"tier table threshold {threshold}", (int)response.StatusCode, response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict);
                }
            case 8:
                {
                    var email = client.Pick(OldAccounts).Email;
                    var response = await support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email, reason = "Ticket 38: member proved the old account", ticketReference = "CPS-SUP-1" });
                    await response.Content.ReadAsStringAsync();
                    return ($"link {email}", (int)response.StatusCode, response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict);
                }
            case 9:
                {
                    var response = await (client.Chance(50) ? member.PostAsync(LegacyFiles.MigrationUrl(account), null)
                        : support.PostJson(LegacyFiles.MigrationUrl(account), Support.OnBehalf.BySupport(new { }, Reason, Ticket)));
                    await response.Content.ReadAsStringAsync();
                    return ("migrate", (int)response.StatusCode, response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict);
                }
            default:
                {
                    var email = client.Pick(OldAccounts).Email;
                    var response = await support.DeleteAsync($"/api/accounts/{account}/old-cps-emails/{Uri.EscapeDataString(email)}?reason=Linked+by+mistake&ticketReference=CPS-SUP-5");
                    await response.Content.ReadAsStringAsync();
                    // 404: not linked (or unlinked by a concurrent unlink a moment before).
                    return ($"unlink {email}", (int)response.StatusCode,
                        response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict or HttpStatusCode.NotFound);
                }
        }
    }

    /// <summary>Every event of the account's streams and of the tier table, in commit order: what a failure is read from.</summary>
    private async Task<string> EventsOf(Guid account)
    {
        await using var session = App.Store.QuerySession();
        var streams = (await AccountStreams.OfAsync(session, account, CancellationToken.None)).Select(s => s.StreamId)
            .Append(TierTableStream.Id).ToArray();
        var events = await session.Events.QueryAllRawEvents().Where(e => e.StreamId.IsOneOf(streams)).OrderBy(e => e.Sequence).ToListAsync();
        return string.Join("\n", events.Select(e => $"  {e.Sequence} {e.Timestamp:HH:mm:ss.ffffff} {e.EventTypeName} {e.StreamId} v{e.Version} " +
                                                     $"by {e.UserName} ({e.CorrelationId}): {System.Text.Json.JsonSerializer.Serialize(e.Data)}"));
    }

    private static HttpClient With(HttpClient client, string correlation)
    {
        client.DefaultRequestHeaders.Add("X-Correlation-Id", correlation);
        return client;
    }

    private static object TierTable(int threshold) => new
    {
        invitationThreshold = threshold,
        enterpriseAbovePoints = 2500,
        reason = "Price list of the year",
        tiers = new object[]
        {
            new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 100.00m, currency = "EUR" },
            new { code = "gold", name = "Gold", kind = "standard", pointsRequired = 1000, annualFee = 200.00m, currency = "EUR" },
            new { code = "platinum", name = "Platinum", kind = "standard", pointsRequired = 1600, annualFee = 350.00m, currency = "EUR" },
            new { code = "enterprise_a", name = "Enterprise A", kind = "enterprise", pointsRequired = 0, maxProducts = 25, annualFee = 1000m, currency = "EUR" },
            new { code = "enterprise_b", name = "Enterprise B", kind = "enterprise", pointsRequired = 0, maxProducts = 100, annualFee = 2500m, currency = "EUR" },
            new { code = "enterprise_c", name = "Enterprise C", kind = "enterprise", pointsRequired = 0, maxProducts = 250, annualFee = 5000m, currency = "EUR" },
        },
    };

    private async Task RebuildsWriteWhatTheInlineProjectionsWrote()
    {
        var stored = ((StoreOptions)App.Store.Options).Projections.All.Where(p => p.Lifecycle != JasperFx.Events.Projections.ProjectionLifecycle.Live).ToList();
        var tables = stored.SelectMany(p => p.PublishedTypes()).Distinct().ToList();
        var inline = await StoredDocuments.RowsAsync(App.ConnectionString, App.SchemaName, tables, tablesMustExist: false);
        await new FastRebuild(App.Store).RebuildEveryProjectionAsync(CancellationToken.None);
        var rebuilt = await StoredDocuments.RowsAsync(App.ConnectionString, App.SchemaName, tables, tablesMustExist: false);
        var missing = inline.Except(rebuilt).ToList();
        var extra = rebuilt.Except(inline).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"the rebuild differs from the inline projections:\n  inline only:\n    {string.Join("\n    ", missing)}\n  rebuilt only:\n    {string.Join("\n    ", extra)}");
    }
}
