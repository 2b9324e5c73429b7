using CpsLedger.Api.Accounts;
using CpsLedger.Api.Products;
using JasperFx.Events;
using Marten;
using Npgsql;
using Weasel.Core;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// Seeds accounts the way the ledger would hold them after normal use, fast: the events go in with Marten's bulk append
/// (COPY, no inline projections), and the read models the inline projections would have written (AccountView, ProductView,
/// the serial claims) are computed with the projections' own Create/Apply methods and bulk-inserted. Each account: one account stream, one
/// product with all details and its points (2 events), one product waiting for its dealer (1 event): 4 events, 3 streams.
/// </summary>
/// <param name="pool">The service's connection pool, cleared after seeding (<see cref="EnsureAccountsAsync"/>).</param>
public sealed class Seeder(IDocumentStore store, NpgsqlDataSource pool, Action<string> log)
{
    public const int EventsPerAccount = 4;
    public static readonly (string Code, string Name, string Category, int Points)[] Models =
    [
        ("BENCH-CAM", "Bench Camera", "camera_body", 120),
        ("BENCH-LENS", "Bench Lens", "lens", 25),
    ];

    private readonly List<Guid> _accounts = [];

    public IReadOnlyList<Guid> Accounts => _accounts;

    public static string CatalogueCsv =>
        "code,name,category,points\n" + string.Concat(Models.Select(m => $"{m.Code},{m.Name},{m.Category},{m.Points}\n"));

    private static SerialOwnership Claim(ProductRegistered e) => new()
    {
        Id = SerialNumbers.OwnershipKey(e.ModelCode, e.SerialNumber!),
        RegistrationId = e.RegistrationId,
        AccountId = e.AccountId,
        SerialNumber = SerialNumbers.Normalize(e.SerialNumber!),
    };

    /// <summary>Tops the ledger up to <paramref name="count"/> seeded accounts; returns the time it took.</summary>
    public async Task<TimeSpan> EnsureAccountsAsync(int count, CancellationToken ct = default)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        if (_accounts.Count >= count)
            return TimeSpan.Zero;
        var events = (Marten.Events.EventGraph)((DocumentStore)store).Options.Events;
        const int chunk = 5_000;
        while (_accounts.Count < count)
        {
            var n = Math.Min(chunk, count - _accounts.Count);
            var streams = new List<StreamAction>(n * 3);
            var documents = new List<object>(n * 3);
            var allocations = new List<(ProductView View, StreamAction Stream)>(n);
            for (var i = 0; i < n; i++)
            {
                var number = _accounts.Count + i;
                var accountId = Guid.CreateVersion7();
                var at = DateTimeOffset.UtcNow.AddDays(-400).AddMinutes(number % 500_000);
                var opened = new BusinessAccountOpened(accountId, $"Bench Studio {number}", $"owner{number}@bench.example", "EE", [], at);
                streams.Add(StreamAction.Start(events, accountId, [opened]));
                documents.Add(AccountViewProjection.Create(opened));

                var (cam, lens) = (Models[0], Models[1]);
                var complete = Guid.CreateVersion7();
                var registered = new ProductRegistered(complete, accountId, cam.Code, cam.Name, cam.Category, $"SN{number:D9}A",
                    new DateOnly(2024, 3, 1), "EE", "Photopoint", [], RegistrationSource.Registration, at.AddMinutes(1));
                var allocated = new PointsAllocated(complete, accountId, cam.Code, $"SN{number:D9}A", cam.Points, 1, at.AddMinutes(1));
                var completed = StreamAction.Start(events, complete, [registered, allocated]);
                streams.Add(completed);
                var view = ProductViewProjection.Create(registered);
                allocations.Add((view, completed));
                documents.Add(view);
                documents.Add(Claim(registered));

                var waiting = Guid.CreateVersion7();
                var partial = new ProductRegistered(waiting, accountId, lens.Code, lens.Name, lens.Category, $"SN{number:D9}B",
                    new DateOnly(2024, 4, 1), "EE", null, [MandatoryDetail.PurchaseDate], RegistrationSource.Registration, at.AddMinutes(2));
                streams.Add(StreamAction.Start(events, waiting, [partial]));
                documents.Add(ProductViewProjection.Create(partial));
                documents.Add(Claim(partial));
            }

            await store.BulkInsertEventsAsync(streams, 5_000, ct);
            // The points line names its event (id, user): the event as stored, so that the view is what a replay gives and verification
            // of a ledger not rebuilt since seeding (P6's) agrees. Until 2026-12-07 it named an event of its own ("bench-seed").
            foreach (var (view, stream) in allocations)
                ProductViewProjection.Apply(view, (IEvent<PointsAllocated>)stream.Events[1]);
            await store.BulkInsertDocumentsAsync(documents, BulkInsertMode.InsertsOnly, 5_000, ct);
            _accounts.AddRange(streams.Where((_, i) => i % 3 == 0).Select(s => s.Id));
            if (count >= 20_000)
                log($"  seeded {_accounts.Count:N0} / {count:N0} accounts ({started.Elapsed.TotalSeconds:F0} s)");
        }

        // A bulk load leaves the planner's statistics behind until autovacuum's next analyze (up to a minute or more): without
        // this, the scenarios right after seeding ran on plans made for near-empty tables (P4's event pages took 59 ms instead
        // of 1 ms each). An operator does the same after a bulk import.
        await using (var session = store.QuerySession())
        {
            await session.ExecuteAsync(new NpgsqlCommand($"analyze {BenchApp.Schema}.mt_events, {BenchApp.Schema}.mt_streams, " +
                $"{BenchApp.Schema}.mt_doc_productview, {BenchApp.Schema}.mt_doc_accountview, {BenchApp.Schema}.account_chain"), ct);
        }

        // Each bulk transaction took an advisory lock per account (the hash chain's row trigger), and a PostgreSQL backend's table
        // of the locks it has held never shrinks: every later commit on that connection scans it (about 10 us per commit after
        // 5,000 locks, psql). The scenarios are to measure connections as the running service has them, so the seeded ones are
        // closed.
        pool.Clear();
        return started.Elapsed;
    }
}
