using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using JasperFx;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CpsLedger.Tests.Platform;

/// <summary>What depends on the folder the settings are read from (the content root), and what must not.</summary>
public sealed class ContentRootTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public void Without_a_given_content_root_the_settings_are_read_from_the_applications_own_folder()
    {
        // Not the folder the service was started in: the same build read no settings when started from the repository root.
        Assert.Equal(AppContext.BaseDirectory, Program.ContentRootFor(["token", "--role", "support"]));
        // A command's own flags (.ci/new-migration passes these) are no content root.
        Assert.Equal(AppContext.BaseDirectory, Program.ContentRootFor(["db-patch", "/tmp/001_x.sql", "-d", "marten://store/"]));
        Assert.Null(Program.ContentRootFor(["--contentRoot=/srv/cpsledger"]));
    }

    [Fact]
    public async Task Codegen_writes_into_the_projects_source_whatever_the_content_root()
    {
        // JasperFx's default output folder follows the content root, now the build output: `codegen write` wrote there.
        var elsewhere = Directory.CreateTempSubdirectory("cpsledger-content-root-");
        var project = Path.Combine(Database.FindRepositoryRoot(AppContext.BaseDirectory), "src", "CpsLedger.Api");
        foreach (var settings in Directory.GetFiles(project, "appsettings*.json"))
            File.Copy(settings, Path.Combine(elsewhere.FullName, Path.GetFileName(settings)));
        var schema = $"cpsledger_root_{Guid.NewGuid():N}"[..30];
        try
        {
            await using var host = App.WithWebHostBuilder(b =>
            {
                b.UseContentRoot(elsewhere.FullName);
                b.UseSetting("Ledger:SchemaName", schema);
            });
            var environment = host.Services.GetRequiredService<IHostEnvironment>();
            Assert.Equal(elsewhere.FullName, environment.ContentRootPath.TrimEnd(Path.DirectorySeparatorChar));

            var generated = host.Services.GetRequiredService<JasperFxOptions>().GeneratedCodeOutputPath;
            Assert.Equal(Path.Combine(project, "Internal", "Generated"), generated?.TrimEnd(Path.DirectorySeparatorChar));
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
            elsewhere.Delete(recursive: true);
        }
    }
}
