// Mounts ODK Web Forms' <OdkWebForm> on a form handed in by the test (window.harness.start), serves the
// form's media (jr://file-csv/...) from what the test fetched from Fieldsync, and keeps the instance
// XML the engine produces on "Send" for the test to post to the server as Collect would.
import { createApp, h } from "vue";
import { OdkWebForm, webFormsPlugin } from "@getodk/web-forms";

window.harness = {
  ready: true,
  submitted: null,
  errors: [],
  start(formXml, media) {
    const fetchFormAttachment = async (url) => {
      const name = String(url.href || url).split("/").pop();
      if (Object.prototype.hasOwnProperty.call(media, name)) {
        return new Response(media[name], { status: 200, headers: { "Content-Type": "text/csv" } });
      }
      return new Response("", { status: 404 });
    };
    const onSubmit = async (payload, callback) => {
      try {
        const file = payload.data[0].get("xml_submission_file");
        window.harness.submitted = { status: payload.status, xml: await file.text(), meta: payload.submissionMeta };
        if (typeof callback === "function") callback({ status: "success" });
      } catch (error) {
        window.harness.errors.push(String(error));
      }
    };
    const app = createApp({ render: () => h(OdkWebForm, { formXml, fetchFormAttachment, onSubmit }) });
    app.config.errorHandler = (error) => window.harness.errors.push(String(error && error.stack || error));
    app.use(webFormsPlugin);
    app.mount("#app");
  },
};
