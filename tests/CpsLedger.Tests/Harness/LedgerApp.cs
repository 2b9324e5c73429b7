using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using CpsLedger.LocalPostgres;
using Marten;
using MimeKit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Persistence.Durability.ScheduledMessageManagement;
using Wolverine.Tracking;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The real service (WebApplicationFactory) on a real PostgreSQL: the one in <c>CPSLEDGER_TEST_DATABASE</c> when
/// set, otherwise a throwaway cluster this test run starts from the machine's binaries and removes afterwards.
/// </summary>
public class LedgerApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string DatabaseVariable = "CPSLEDGER_TEST_DATABASE";

    private PostgresCluster? _cluster;

    // No JasperFxEnvironment.AutoStartHost: the settings WebApplicationFactory passes as arguments are no command, so
    // Program serves (app.RunAsync) and the host starts as any ASP.NET Core host does (Program.NamesACommand).

    public string ConnectionString { get; private set; } = "";

    /// <summary>The throwaway cluster this run started (fault tests restart it); null on an external database.</summary>
    public PostgresCluster Cluster => _cluster
        ?? throw new InvalidOperationException($"Fault tests restart the test run's own PostgreSQL; unset {DatabaseVariable} to run them.");

    /// <summary>The service's clock; each test starts at real time.</summary>
    public AdjustableClock Clock { get; } = new();

    /// <summary>What the service logged (Serilog reads sinks from the container: Platform/Logging.cs).</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>Where the service writes e-mails (.eml files) during the tests.</summary>
    public string MailFolder { get; } = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-mail-{Guid.NewGuid():N}");

    /// <summary>The e-mails written so far, in the order of their file names.</summary>
    public MimeMessage[] SentEmails() => Directory.Exists(MailFolder)
        ? Directory.GetFiles(MailFolder, "*.eml").Order().Select(f => MimeMessage.Load(f)).ToArray()
        : [];

    public virtual async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable(DatabaseVariable);
        if (string.IsNullOrWhiteSpace(external))
        {
            _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
            {
                DataDirectory = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-{Guid.NewGuid():N}"),
                Throwaway = true,
                // The fault tests kill the server; what it acknowledged must still be there afterwards, as in production.
                KeepCommitsThroughServerCrash = true,
            });
            ConnectionString = _cluster.ConnectionString;
        }
        else
        {
            ConnectionString = external;
        }

        if (ServesOnLoopback)
        {
            // A real socket, for a real browser (the console's tests); CreateClient() then talks to it too.
            UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
            StartServer();
            var addresses = Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
            BaseUrl = new Uri(addresses.First());
        }
        else
        {
            _ = Server;
        }

        HttpAssertions.UseJsonOptionsOf(Services);
        // Which session each backend serves, for the lock tests (LockWaits). Around the store's own logger, which Marten sets only
        // when none is configured (it logs failed commands to the service's log, where the tests look for deadlocks).
        var store = ((DocumentStore)Store).Options;
        store.Logger(new SessionsByBackend(store.Logger()));
        await ResetAsync();
    }

    /// <summary>Whether the service listens on a loopback port (rather than the in-memory test server).</summary>
    protected virtual bool ServesOnLoopback => false;

    /// <summary>Where the service listens, when it <see cref="ServesOnLoopback"/>.</summary>
    public Uri? BaseUrl { get; private set; }

    async Task IAsyncLifetime.DisposeAsync()
    {
        try
        {
            // Read while the host still serves (its tests may not have loaded it): the document the responses are counted against.
            if (GetType() == typeof(LedgerApp))
                ContractCoverage.Remember(await Contract());
        }
        finally
        {
            await DisposeAsync();
            if (_cluster is not null)
                await _cluster.DisposeAsync();
            if (Directory.Exists(MailFolder))
                Directory.Delete(MailFolder, recursive: true);
        }

        // Every host's tests count (the API tests' two and the console's): the last host of the run to end enforces the coverage.
        ContractCoverage.HostEnded();
    }

    /// <summary>The database schema this host keeps its ledger in.</summary>
    protected virtual string Schema => "cpsledger_tests";

    /// <summary>The database schema this app's ledger lives in (tests that run SQL of their own need it).</summary>
    public string SchemaName => Schema;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("ConnectionStrings:Marten", ConnectionString);
        builder.UseSetting("LocalPostgres:Enabled", "false");
        builder.UseSetting("Ledger:SchemaName", Schema);
        builder.UseSetting("Catalogue:LoadDemoOnFirstStart", "false");
        builder.UseSetting("Mail:PickupDirectory", MailFolder);
        builder.UseSetting("Wolverine:ScheduledJobPollingTime", "00:00:00.250");
        // A message stranded in the inbox by a database crash is run again after this (30 s in production).
        builder.UseSetting("Wolverine:InboxStaleTime", "00:00:05");
        builder.UseSetting("Wolverine:OutboxStaleTime", "00:00:05");
        // The tests run the reconciliation when they mean to (its schedule would fire between steps of other tests).
        builder.UseSetting("Reconciliation:Enabled", "false");
        // A gateway slower than this (the sandbox's tok_sandbox_approve_slow) is given up on quickly.
        builder.UseSetting("Invoicing:GatewayTimeout", "00:00:00.200");
        // The tests move the clock by a month to reach due dates; the reconciliation looks back further than that.
        builder.UseSetting("Reconciliation:Lookback", "90.00:00:00");
        // The tests' tier table in pounds (Billing.TierTableInPounds) is published only where every country with a bank-transfer
        // surcharge has one in pounds too; the service ships none, so these amounts are the tests' own.
        builder.UseSetting("Invoicing:BankTransferSurcharges:IT:GBP", "1.70");
        builder.UseSetting("Invoicing:BankTransferSurcharges:PT:GBP", "1.30");
        builder.UseSetting("Invoicing:BankTransferSurcharges:ES:GBP", "0.85");
        builder.ConfigureServices((context, services) =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            services.AddSingleton<Serilog.Core.ILogEventSink>(Logs);
            // A test of several nodes on one database runs them as a cluster (Wolverine:Balanced=true).
            if (!context.Configuration.GetValue("Wolverine:Balanced", false))
                services.RunWolverineInSoloMode();
            services.DisableAllExternalWolverineTransports();
        });
    }

    /// <summary>The host, stopped once when the factory is disposed (see <see cref="StoppedOnceHost"/>).</summary>
    protected override IHost CreateHost(IHostBuilder builder) => new StoppedOnceHost(base.CreateHost(builder));

    /// <summary>Every test starts from an empty ledger: no events, documents, keys or scheduled messages.</summary>
    public async Task ResetAsync()
    {
        // A batch of invitation reviews the last test set off and did not wait for would otherwise run against the emptied ledger.
        await UntilBatchesHandled();
        // And for what those batches set off (the invitation e-mails): one written after the mail folder is emptied below
        // would show up in the next test's mail. Without failing: a fault test may have left a message that will not run, which
        // the reset clears.
        await Services.UntilInboxHasNothingToRunOrGiveUp();
        Clock.Reset();
        await Services.ResetAllMartenDataAsync();
        // The hash chains follow the events they link (kept by a trigger, outside Marten's own tables).
        await using (var connection = new Npgsql.NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var truncate = new Npgsql.NpgsqlCommand(
                $"truncate {Schema}.{CpsLedger.Api.Audit.HashChainSchema.TableName}, {Schema}.{EmailDeliveries.TableName}", connection);
            await truncate.ExecuteNonQueryAsync();
        }
        await Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.ClearAllAsync();
        // Reference data the service loads on first start.
        await TierTableDefaults.EnsureAsync(Store, TimeProvider.System);
        await CpsLedger.Api.Invoicing.VatRateDefaults.EnsureAsync(Store, TimeProvider.System);
        // A published tier table asks for the reviews of the accounts its threshold concerns: handled before the test begins,
        // so that it cannot review the test's accounts at a moment of its own.
        await Services.UntilInboxHasNothingToRun();
        if (Directory.Exists(MailFolder))
            Directory.Delete(MailFolder, recursive: true);
        // The sandbox remembers charges by idempotency key, and invoice numbers (part of the key) start again at 1: a test would
        // otherwise be answered with an earlier test's charge.
        Services.GetService<CpsLedger.Api.Invoicing.SandboxPaymentGateway>()?.Clear();
    }

    /// <summary>Waits until no batched message (the invitation reviews) waits for its batch or is in one being handled.</summary>
    public async Task UntilBatchesHandled()
    {
        var runtime = (WolverineRuntime)Services.GetRequiredService<IWolverineRuntime>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (runtime.BatchingPendingCounts.TotalPendingBatchMembers > 0)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{runtime.BatchingPendingCounts.TotalPendingBatchMembers} batched message(s) still pending after 30 s.");
            await Task.Delay(20);
        }
    }

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    /// <summary>
    /// This host's test seam of type <typeparamref name="T"/> (<c>ChargeCardTestSeam</c>, ...): one per host, so that a seam a test sets
    /// fires for this host's work only, not for a host other tests run beside it.
    /// </summary>
    public T Seam<T>() where T : class => Services.GetRequiredService<T>();

    public string TokenFor(string role, Guid? accountId = null, string? subject = null) => TokenFor([role], subject ?? $"test-{role}", accountId);

    public string TokenFor(IReadOnlyCollection<string> roles, string subject, Guid? accountId = null) =>
        // Issued on real time, as the token validation checks it, even when a test has moved the service's clock.
        new DevTokenIssuer(Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>(), TimeProvider.System)
            .Issue(subject, roles, accountId);

    private Task<Contract>? _contract;

    /// <summary>The document the service serves at /openapi/v1.json, read once: every client of this host is held to it.</summary>
    public Task<Contract> Contract() => _contract ??= LoadContract();

    private async Task<Contract> LoadContract()
    {
        using var client = CreateDefaultClient();
        var response = await client.GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        return new Contract(await response.Content.ReadAsStringAsync());
    }

    /// <summary>A client of the service whose every response is checked against the OpenAPI document (<see cref="ContractCheck"/>).</summary>
    public new HttpClient CreateClient() =>
        CreateDefaultClient(ClientOptions.BaseAddress, new ContractCheck(Contract, Logs),
            new Microsoft.AspNetCore.Mvc.Testing.Handlers.RedirectHandler(), new Microsoft.AspNetCore.Mvc.Testing.Handlers.CookieContainerHandler());

    public HttpClient ClientAs(string role, Guid? accountId = null, string? subject = null) => Bearing(TokenFor(role, accountId, subject));

    /// <summary>A client holding several roles at once (a member of staff with more than one).</summary>
    public HttpClient ClientWithRoles(IReadOnlyCollection<string> roles, string subject) => Bearing(TokenFor(roles, subject));

    private HttpClient Bearing(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HttpClient Anonymous() => CreateClient();

    /// <summary>
    /// A client whose responses are not held to the OpenAPI document: only for a test that injects a fault on purpose (a 500
    /// is never in the contract).
    /// </summary>
    public HttpClient UncheckedClientAs(string role, Guid? accountId = null, string? subject = null)
    {
        var client = CreateDefaultClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TokenFor(role, accountId, subject));
        return client;
    }
}

/// <summary>
/// The API tests' shared host. Test classes run one after another within a collection, each on an emptied ledger; the
/// heavier classes that carry <c>[Collection(SecondLedgerCollection.Name)]</c> run on a second host of their own (its own
/// PostgreSQL cluster), beside this one.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LedgerCollection : ICollectionFixture<LedgerApp>
{
    public const string Name = "ledger";

}

/// <summary>A second host for API tests, so that two classes run at a time (xunit runs collections in parallel).</summary>
[CollectionDefinition(Name)]
public sealed class SecondLedgerCollection : ICollectionFixture<LedgerApp>
{
    public const string Name = "ledger-2";
}

/// <summary>Base for integration tests: the collection's shared host (<see cref="LedgerCollection"/> unless the class names the second), a clean ledger before each test.</summary>
[Collection(LedgerCollection.Name)]
public abstract class LedgerTest(LedgerApp app) : IAsyncLifetime
{
    protected LedgerApp App { get; } = app;

    public Task InitializeAsync() => App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}

public static class LedgerAppMessaging
{
    /// <summary>How long a tracked session may take before it fails (a deadline, not a wait: it ends as soon as the messages are handled).</summary>
    public static readonly TimeSpan TrackingDeadline = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Runs <paramref name="action"/> (HTTP calls, usually) in a Wolverine tracked session and returns once every message it set
    /// off, and every message those set off, has been handled: forwarded events, cascades, e-mails. Scheduled messages are
    /// recorded, not waited for (<see cref="ITrackedSession.Scheduled"/>). A handler failure that a retry answered is expected
    /// (races), so exceptions are not asserted on here; tests assert the effects. The action must read each response to its
    /// end: the in-memory test server ends a response only when the request's pipeline has finished, after the outbox flush
    /// that tells Wolverine what was sent (on a real socket, see <see cref="TrackedUntilHandled{T}"/>).
    /// </summary>
    public static Task<(T Result, ITrackedSession Session)> TrackedSession<T>(this LedgerApp app, Func<Task<T>> action) =>
        app.Services.TrackedSession(action);

    /// <inheritdoc cref="TrackedSession{T}(LedgerApp, Func{Task{T}})"/>
    public static async Task<(T Result, ITrackedSession Session)> TrackedSession<T>(this IServiceProvider services, Func<Task<T>> action)
    {
        T result = default!;
        var session = await services.TrackActivity()
            .Timeout(TrackingDeadline)
            .DoNotAssertOnExceptionsDetected()
            .WaitForCondition(new HandledWithWhatTheySetOff(services))
            .ExecuteAndWaitAsync((Func<IMessageContext, Task>)(async _ => result = await action()));
        await services.UntilInboxHasNothingToRunOrGiveUp();
        return (result, session);
    }

    /// <summary>
    /// Waits until the durable inbox (every node's, one database) holds nothing to run now, and fails naming what it still holds
    /// after <see cref="TrackingDeadline"/>: for a test whose assertions need everything set off to have run. Every local queue is
    /// durable, so a message set off and not yet handled is there, also one a tracked session did not see: set off before it by a
    /// call that was not tracked (seen: an invitation review still waiting for its batch when a later tracked call returned),
    /// handled on another node, or sent by a host's start-up. Until 2026-12-07 this gave up silently after 5 s, and under load a
    /// test went on while a restarted host's start-up check was still to run.
    /// </summary>
    public static async Task UntilInboxHasNothingToRun(this IServiceProvider services)
    {
        if (!await InboxRunWithin(services, TrackingDeadline))
            throw new TimeoutException(
                $"The inbox still holds messages to run after {TrackingDeadline.TotalSeconds:0} s: {await StillToRun(services)}");
    }

    /// <summary>
    /// The same wait, bounded and without failing: where a fault test may have left a message that will not run here (before the
    /// ledger is reset, which clears the inbox; after a tracked session, whose own condition has waited for what it saw). Tests
    /// assert the effects they expect.
    /// </summary>
    public static async Task UntilInboxHasNothingToRunOrGiveUp(this IServiceProvider services) =>
        await InboxRunWithin(services, TimeSpan.FromSeconds(5));

    private static async Task<bool> InboxRunWithin(IServiceProvider services, TimeSpan within)
    {
        var admin = services.GetRequiredService<IWolverineRuntime>().Storage.Admin;
        var deadline = DateTime.UtcNow + within;
        while ((await admin.FetchCountsAsync()).Incoming > 0)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>What the inbox holds to run: each message's type, the node that owns it (0: none) and its attempts so far.</summary>
    private static async Task<string> StillToRun(IServiceProvider services)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            $"select message_type, owner_id, attempts from {store.Options.DatabaseSchemaName}.wolverine_incoming_envelopes where status = 'Incoming'",
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        var messages = new List<string>();
        while (await reader.ReadAsync())
            messages.Add($"{reader.GetString(0)} (owner {reader.GetInt32(1)}, {reader.GetInt32(2)} attempt(s))");
        return messages.Count == 0 ? "none left by the time they were listed" : string.Join("; ", messages);
    }

    /// <summary>
    /// Handles a message inline on a bus of its own (one per call, as two service nodes would each have), with its retries: what a
    /// handler does with a message replayed, delivered late or written by hand.
    /// </summary>
    public static async Task Invoke(this LedgerApp app, object message)
    {
        using var scope = app.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
    }

    /// <inheritdoc cref="TrackedSession{T}(LedgerApp, Func{Task{T}})"/>
    public static async Task<T> Tracked<T>(this LedgerApp app, Func<Task<T>> action) => (await app.TrackedSession(action)).Result;

    /// <inheritdoc cref="TrackedSession{T}(LedgerApp, Func{Task{T}})"/>
    public static Task<ITrackedSession> Tracked(this LedgerApp app, Func<Task> action) => app.Services.Tracked(action);

    /// <inheritdoc cref="TrackedSession{T}(LedgerApp, Func{Task{T}})"/>
    public static async Task<ITrackedSession> Tracked(this IServiceProvider services, Func<Task> action) =>
        (await services.TrackedSession(async () =>
        {
            await action();
            return true;
        })).Session;

    /// <summary>
    /// For a service on a real socket (the console's browser tests): a client there can finish reading a response before the
    /// server has flushed the request's outbox, so what a request set off is not yet known to Wolverine when the call returns.
    /// This waits instead until <paramref name="count"/> messages of type <typeparamref name="T"/> have been handled.
    /// </summary>
    public static Task<ITrackedSession> TrackedUntilHandled<T>(this LedgerApp app, int count, Func<Task> action) =>
        app.Services.TrackActivity()
            .Timeout(TrackingDeadline)
            .DoNotAssertOnExceptionsDetected()
            .WaitForCondition(new MessagesHandled<T>(count))
            .WaitForCondition(new HandledWithWhatTheySetOff(app.Services))
            .ExecuteAndWaitAsync((Func<IMessageContext, Task>)(_ => action()));

    private sealed class MessagesHandled<T>(int count) : ITrackedCondition
    {
        private int _handled;

        public void Record(EnvelopeRecord record)
        {
            if (record.MessageEventType == MessageEventType.MessageSucceeded && record.Envelope?.Message is T)
                Interlocked.Increment(ref _handled);
        }

        public bool IsCompleted() => Volatile.Read(ref _handled) >= count;
    }

    /// <summary>
    /// Runs every scheduled message now, the way the service runs one that has come due (Wolverine's scheduled-message store,
    /// told to reschedule it to now, hands it to its durable local queue), and returns when they, and everything they set off,
    /// have been handled. Handlers compare their due time with the service's clock and schedule themselves again when early.
    /// </summary>
    /// <returns>How many scheduled messages ran.</returns>
    public static async Task<int> RunScheduledMessagesNow(this IServiceProvider services) =>
        await services.RunScheduledMessagesNow((await services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages
            .QueryAsync(new ScheduledMessageQuery { PageSize = 1000 }, CancellationToken.None)).Messages.Select(m => m.Id).ToHashSet());

    /// <summary>Runs these scheduled messages now (<see cref="RunScheduledMessagesNow(IServiceProvider)"/>), and only these.</summary>
    /// <returns>How many scheduled messages ran.</returns>
    public static async Task<int> RunScheduledMessagesNow(this IServiceProvider services, IReadOnlySet<Guid> due)
    {
        var scheduled = services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages;
        if (due.Count == 0)
            return 0;

        await services.TrackActivity()
            .Timeout(TrackingDeadline)
            .DoNotAssertOnExceptionsDetected()
            .WaitForCondition(new HandledWithWhatTheySetOff(services, due))
            .ExecuteAndWaitAsync((Func<IMessageContext, Task>)(async _ =>
            {
                foreach (var id in due)
                    await scheduled.RescheduleAsync(id, DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None);
            }));
        return due.Count;
    }

    /// <summary>How many messages are scheduled for later, as Wolverine's scheduled-message store lists them.</summary>
    public static async Task<int> ScheduledMessageCount(this IServiceProvider services) =>
        (await services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages
            .QueryAsync(new ScheduledMessageQuery { PageSize = 1 }, CancellationToken.None)).TotalCount;

    /// <summary>
    /// Complete once every one of <paramref name="due"/> (if any) has been handled, every message sent meanwhile to a local queue
    /// for now (not scheduled for later) has been handled too, and every batched message (<c>BatchMessagesOf</c>: the invitation
    /// reviews) has been handled in a batch. The durability agent picks due messages up on its own poll, after the session's
    /// action has returned; and Wolverine reports a batched message handled once it has joined a batch, while the batch runs up to
    /// its trigger time later on a queue of its own. So the session alone (done when what it has seen is done) waits for neither.
    /// </summary>
    private sealed class HandledWithWhatTheySetOff(IServiceProvider services, IReadOnlySet<Guid>? due = null) : ITrackedCondition
    {
        private readonly object _lock = new();
        // The session marks its records complete as later ones arrive (a message sent, then received, then handled): while a
        // condition is set, that is no longer what ends the session, so the condition asks the same of them.
        private readonly List<EnvelopeRecord> _records = [];
        private readonly HashSet<Guid> _handled = [];
        private readonly IReadOnlyList<MessageBatchMapping> _batches = services.GetRequiredService<IWolverineRuntime>().Options.BatchMappings;
        // Batched messages that joined a batch (Wolverine reports them handled then) and whose batch has not been handled yet, and
        // the other way round (a full batch can run before the last member's report). A batch holds its members' message objects.
        private readonly HashSet<object> _awaitingBatch = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<object> _batchedFirst = new(ReferenceEqualityComparer.Instance);

        public void Record(EnvelopeRecord record)
        {
            lock (_lock)
            {
                _records.Add(record);
                if (record.Envelope is not { } envelope || record.MessageEventType is not (MessageEventType.MessageSucceeded
                        or MessageEventType.MovedToErrorQueue or MessageEventType.Discarded or MessageEventType.NoHandlers or MessageEventType.NoRoutes))
                    return;
                if (!_handled.Add(envelope.Id) || record.MessageEventType != MessageEventType.MessageSucceeded)
                    return;
                if (_batches.Any(b => b.ElementType == envelope.Message?.GetType()) && !_batchedFirst.Remove(envelope.Message!))
                    _awaitingBatch.Add(envelope.Message!);
                else if (_batches.Any(b => b.BatchMessageType == envelope.Message?.GetType()))
                    foreach (var member in (Array)envelope.Message!)
                        if (!_awaitingBatch.Remove(member!))
                            _batchedFirst.Add(member!);
            }
        }

        public bool IsCompleted()
        {
            lock (_lock)
                return _records.All(r => r.IsComplete) && (due ?? new HashSet<Guid>()).All(_handled.Contains)
                                                       && _awaitingBatch.Count == 0;
        }
    }
}
