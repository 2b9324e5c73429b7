using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Catalogue;
using CpsLedger.Tests.Harness;
using JasperFx.Events;
using Marten;

namespace CpsLedger.Tests.Catalogue;

/// <summary>Catalogue files the tests import, and the calls most tests start with.</summary>
public static class CatalogueFiles
{
    public const string ImportsUrl = "/api/catalogue/imports";
    public const string ModelsUrl = "/api/catalogue/models";

    /// <summary>Five models in four categories, one of them withdrawn; the shape of a real operator's export.</summary>
    public const string Small = """
        code,name,category,points,status
        EOS-R5,EOS R5,camera_body,340,listed
        EOS-R6-MKII,EOS R6 Mark II,camera_body,225,
        EF-40-STM,"EF 40mm f/2.8 STM",lens,15,listed
        PRO-1000,imagePROGRAF PRO-1000,printer,100,listed
        EOS-1DX,EOS-1D X,camera_body,450,withdrawn
        """;

    public static Task<HttpResponseMessage> PostCatalogue(this HttpClient client, string content, string contentType = "text/csv") =>
        client.PostRaw(ImportsUrl, content, contentType);

    public static Task<CatalogueImportResult> Import(this LedgerApp app, string content = Small, string contentType = "text/csv") =>
        app.ClientAs(LedgerRoles.Support).PostCatalogue(content, contentType).ReadAs<CatalogueImportResult>();

    /// <summary>Stored catalogue events (other reference data the ledger loads, and tombstones of failed appends, aside).</summary>
    public static async Task<int> EventCount(this LedgerApp app) => (await app.CatalogueEvents()).Count;

    public static async Task<IReadOnlyList<IEvent>> CatalogueEvents(this LedgerApp app)
    {
        await using var session = app.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.StartsWith("product_model_")).ToListAsync();
    }

    public static (int Models, int Listed, int Relisted, int PointsChanged, int DescriptionChanged, int Withdrawn, int Unchanged) Counts(
        this CatalogueImportResult r) =>
        (r.Models, r.Listed, r.Relisted, r.PointsChanged, r.DescriptionChanged, r.Withdrawn, r.Unchanged);
}
