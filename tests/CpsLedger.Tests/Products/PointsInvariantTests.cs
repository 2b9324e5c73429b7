using System.Net;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using JasperFx.Events.Daemon;
using Marten;

namespace CpsLedger.Tests.Products;

/// <summary>
/// Any sequence of register / complete / amend / deregister (and catalogue changes in between) keeps the summary's total equal
/// to the sum of the explanation's lines, and both equal to a replay of the stored events and to a rebuilt projection.
/// </summary>
public sealed class PointsInvariantTests(LedgerApp app) : LedgerTest(app)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Random_operations_keep_summary_explanation_and_replay_in_agreement(int seed)
    {
        var random = new Random(seed);
        await App.ListModel(Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var accounts = new[] { await App.OpenAccount("a@example.ee"), await App.OpenAccount("b@example.ee") };
        var registrations = new List<(Guid Account, string Url)>();
        string[] models = [Products.R5, Products.Lens];

        for (var step = 0; step < 60; step++)
        {
            var account = accounts[random.Next(accounts.Length)];
            var member = App.Member(account);
            var mine = registrations.Where(r => r.Account == account).ToList();
            switch (random.Next(6))
            {
                case 0 or 1:
                    var serial = $"S-{random.Next(30)}";
                    var model = models[random.Next(models.Length)];
                    var details = new Dictionary<string, object?>
                    {
                        ["modelCode"] = model,
                        ["serialNumber"] = random.Next(4) == 0 ? null : serial,
                        ["purchaseDate"] = random.Next(4) == 0 ? null : "2024-01-02",
                        ["countryOfPurchase"] = random.Next(4) == 0 ? null : "DE",
                        ["dealer"] = random.Next(4) == 0 ? null : "Foto Koch",
                    };
                    var response = await member.PostJson(Products.ProductsUrl(account), details);
                    Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict });
                    if (response.StatusCode == HttpStatusCode.Created)
                        registrations.Add((account, (await response.ReadAs<ProductRegistrationCreated>(HttpStatusCode.Created)).Url));
                    break;
                case 2 when mine.Count > 0:
                    var amendment = random.Next(3) switch
                    {
                        0 => (object)new { dealer = "Photopoint", purchaseDate = "2023-05-06", countryOfPurchase = "EE" },
                        1 => new { serialNumber = $"S-{random.Next(30)}" },
                        _ => new { dealer = "Cameraland", bestGuesses = new[] { "dealer" } },
                    };
                    var amended = await member.PatchJson(mine[random.Next(mine.Count)].Url, amendment);
                    Assert.Contains(amended.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict });
                    break;
                case 3 when mine.Count > 0:
                    var deregistered = await member.PostJson($"{mine[random.Next(mine.Count)].Url}/deregistration", new { reason = "sold" });
                    Assert.Contains(deregistered.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict });
                    break;
                case 4:
                    await App.ChangeModelPoints(models[random.Next(models.Length)], random.Next(1, 400));
                    break;
            }
        }

        foreach (var account in accounts)
            await AssertAgreement(account);

        // A rebuild from the events gives the same totals.
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            await daemon.RebuildProjectionAsync<ProductViewProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);
            await daemon.RebuildProjectionAsync<SerialOwnershipProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);
        }
        foreach (var account in accounts)
            await AssertAgreement(account);

        // The rebuilt serial claims are exactly the registered products that have a serial.
        await using var session = App.Store.QuerySession();
        var claims = (await session.Query<SerialOwnership>().ToListAsync()).Select(c => c.RegistrationId).Order().ToList();
        var owned = (await session.Query<ProductView>().Where(p => !p.Deregistered && p.SerialNumber != null).ToListAsync())
            .Select(p => p.Id).Order().ToList();
        Assert.Equal(owned, claims);
    }

    // Rebuilds copy pure inserts in with binary COPY (Projections.RebuildWithBulkCopy); a history of registrations alone is
    // such a batch, so this exercises the COPY path that the random history above (with its deletes) does not.
    [Fact]
    public async Task Rebuilt_serial_claims_from_registrations_alone_are_the_claims_written_inline_and_still_refuse_a_second_owner()
    {
        await App.ListModel(Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var accounts = new[] { await App.OpenAccount("a@example.ee"), await App.OpenAccount("b@example.ee") };
        for (var i = 0; i < 12; i++)
        {
            var account = accounts[i % 2];
            var response = await App.Member(account).PostJson(Products.ProductsUrl(account),
                new { modelCode = i % 3 == 0 ? Products.Lens : Products.R5, serialNumber = $"BULK-{i:D3}" });
            await response.ShouldBe(HttpStatusCode.Created);
        }

        var before = await Claims();
        Assert.Equal(12, before.Count);
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync<SerialOwnershipProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(before, await Claims());

        // BULK-001 (an EOS R5) belongs to the second account.
        var second = await App.Member(accounts[0]).PostJson(Products.ProductsUrl(accounts[0]),
            new { modelCode = Products.R5, serialNumber = "BULK-001" });
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);

        async Task<List<string>> Claims()
        {
            await using var session = App.Store.QuerySession();
            return (await session.Query<SerialOwnership>().ToListAsync())
                .Select(c => $"{c.Id} {c.RegistrationId} {c.AccountId}").Order().ToList();
        }
    }

    private async Task AssertAgreement(Guid account)
    {
        var member = App.Member(account);
        var summary = (await member.Summary(account)).PointsTotal;
        var explanation = await member.Explanation(account);
        var lineSum = explanation.Lines.Sum(l => l.Points);
        Assert.Equal(summary, explanation.PointsTotal);
        Assert.Equal(summary, lineSum);

        // Replay: the raw points events of this account's registration streams, read straight from the event store.
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents()
            .Where(e => e.EventTypeName == "points_allocated" || e.EventTypeName == "points_removed")
            .ToListAsync();
        Assert.NotEmpty(events);
        var replayed = events.Select(e => e.Data switch
        {
            PointsAllocated a when a.AccountId == account => a.Points,
            PointsRemoved r when r.AccountId == account => -r.Points,
            _ => 0,
        }).Sum();
        Assert.Equal(replayed, summary);

        // And each product's live aggregate agrees with its stored view.
        foreach (var view in await session.Query<ProductView>().Where(p => p.AccountId == account).ToListAsync())
        {
            var live = await session.Events.AggregateStreamAsync<ProductRegistration>(view.Id);
            Assert.Equal(live!.AllocatedPoints ?? 0, view.Points);
            Assert.Equal(live.Details.Missing.Count == 0 || live.Deregistered, view.MissingDetails.Count == 0);
        }
    }
}
