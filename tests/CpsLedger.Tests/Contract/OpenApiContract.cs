using CpsLedger.Tests.Harness;
using NSwag;
using NSwag.CodeGeneration.CSharp;
using NSwag.CodeGeneration.OperationNameGenerators;

namespace CpsLedger.Tests.Contract;

/// <summary>
/// The committed contract: the document the service serves (docs/openapi.v1.json, kept equal to it by HostTests) and the C#
/// client generated from it (LedgerClient.g.cs, kept equal to the generator's output by the test below). The member-journey
/// test drives the service through that client only, so a change of the document that breaks a client breaks the build.
/// </summary>
public sealed class OpenApiContract
{
    public const string DocumentPath = "docs/openapi.v1.json";
    public const string ClientPath = "tests/CpsLedger.Tests/Contract/LedgerClient.g.cs";

    public static async Task<string> GenerateClientAsync()
    {
        var document = await OpenApiDocument.FromFileAsync(Path.Combine(Snapshots.RepositoryRoot(), DocumentPath));
        var settings = new CSharpClientGeneratorSettings
        {
            ClassName = "LedgerClient",
            GenerateClientInterfaces = false,
            UseBaseUrl = false,
            InjectHttpClient = true,
            GenerateOptionalParameters = true,
            OperationNameGenerator = new SingleClientFromOperationIdOperationNameGenerator(),
            // A time with its offset: NSwag's default ("s") drops it, and the service refuses a time without one.
            ParameterDateTimeFormat = "o",
        };
        settings.CSharpGeneratorSettings.Namespace = "CpsLedger.Tests.Contract.Generated";
        settings.CSharpGeneratorSettings.JsonLibrary = NJsonSchema.CodeGeneration.CSharp.CSharpJsonLibrary.SystemTextJson;
        settings.CSharpGeneratorSettings.GenerateNullableReferenceTypes = true;
        settings.CSharpGeneratorSettings.GenerateDataAnnotations = false;
        var code = new CSharpClientGenerator(document, settings).GenerateFile();
        return code.ReplaceLineEndings("\n");
    }

    [Fact]
    public async Task the_committed_client_is_the_one_generated_from_the_committed_document()
    {
        var generated = await GenerateClientAsync();
        var file = Path.Combine(Snapshots.RepositoryRoot(), ClientPath);
        var committed = File.Exists(file) ? File.ReadAllText(file).ReplaceLineEndings("\n") : null;
        if (committed == generated)
            return;
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail($"{ClientPath} is not what NSwag generates from {DocumentPath}: run the tests locally, rebuild, and commit it.");
        await File.WriteAllTextAsync(file, generated);
        Assert.Fail($"{ClientPath} was regenerated from {DocumentPath}: rebuild (the journey test compiles against it) and commit it.");
    }
}
